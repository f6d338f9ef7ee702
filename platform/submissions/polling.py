"""CI answers polled from GitHub's REST API, recorded through the same check_record as webhook deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils.dateparse import parse_datetime

from cohorts.keys import EventKey
from cohorts.models import CohortEvent, Extension
from core import clock
from submissions.github import check_record, normalize_state, repository_from_url, submission_ci_refresh
from submissions.models import CIStatus, CommitCheck, Submission, WindowTransition

Kind = WindowTransition.Kind
Source = CommitCheck.Source


@dataclass(frozen=True)
class Commit:
    repository: str  # owner/name
    sha: str
    submission_ids: tuple[int, ...]


def commits_to_poll(*, after_cutoff: timedelta, now: datetime | None = None) -> list[Commit]:
    """Commits whose CI is not final and still matters: submissions in a window that is open for their
    learner, and graded submissions whose cut-off passed within `after_cutoff`."""
    now = now or clock.now()
    # In the query, so the closed windows of every past cohort cost nothing each sweep: a window not
    # opened, closed for the learner, or closed for the cohort with no extension that could reopen it
    # for someone. What is left is checked exactly per learner below.
    same_window = {"cohort": OuterRef("enrollment__cohort"), "project": OuterRef("project")}
    transitions = WindowTransition.objects.filter(**same_window)
    maybe_open = (
        Exists(transitions.filter(kind=Kind.OPEN))
        & ~Exists(transitions.filter(kind=Kind.CLOSE, enrollment=OuterRef("enrollment")))
        & (
            ~Exists(transitions.filter(kind=Kind.CLOSE, enrollment__isnull=True))
            | Exists(Extension.objects.filter(**same_window))
        )
    )
    unsettled = (
        Submission.objects.filter(ci_status__in=[CIStatus.NONE, CIStatus.PENDING])
        .filter(
            Q(graded_at__isnull=False, graded_at__gte=now - after_cutoff)
            | Q(graded_at__isnull=True) & maybe_open
        )
        .select_related("repository", "enrollment", "project")
        .order_by("pk")
    )
    open_cache: dict[tuple[int, int, int], bool] = {}
    commits: dict[tuple[str, str], list[int]] = {}
    for submission in unsettled:
        if submission.graded_at is None:
            key = (submission.enrollment.cohort_id, submission.project_id, submission.enrollment_id)
            if key not in open_cache:
                open_cache[key] = _window_open(*key, project_key=submission.project.key)
            if not open_cache[key]:
                continue
        repository = (
            submission.repository.full_name
            if submission.repository_id and submission.repository.full_name
            else repository_from_url(submission.repository_url)
        )
        if not repository or len(submission.commit_sha) != 40:
            continue  # the API wants a full SHA (or a branch); a short one cannot be polled safely
        commits.setdefault((repository, submission.commit_sha), []).append(submission.pk)
    return [Commit(repo, sha, tuple(ids)) for (repo, sha), ids in commits.items()]


def _window_open(cohort_id: int, project_id: int, enrollment_id: int, *, project_key: str) -> bool:
    transitions = WindowTransition.objects.filter(cohort_id=cohort_id, project_id=project_id)
    if not transitions.filter(kind=Kind.OPEN).exists():
        return False
    if transitions.filter(kind=Kind.CLOSE, enrollment_id=enrollment_id).exists():
        return False
    own_close = CohortEvent.objects.filter(
        cohort_id=cohort_id, key=str(EventKey(CohortEvent.Kind.CLOSE, project_key, None, enrollment_id))
    ).exists()
    if own_close:
        return True  # an extension: open until the learner's own close is recorded
    return not transitions.filter(kind=Kind.CLOSE, enrollment__isnull=True).exists()


def commit_answers_record(
    *,
    commit: Commit,
    combined_status: dict,
    check_runs: list[dict],
    workflow_runs: list[dict] | None = None,
    received_at: datetime | None = None,
) -> str:
    """Record what GitHub said about a commit (its statuses, check runs and workflow runs) as checks,
    then re-derive its submissions' CI status; returns the status of the first of them."""
    received_at = received_at or clock.now()
    for status in (combined_status or {}).get("statuses") or []:
        context = status.get("context") or "default"
        check_record(
            repository=commit.repository,
            sha=commit.sha,
            source=Source.STATUS,
            name=context,
            external_id=context,
            state=normalize_state(source=Source.STATUS, status=status.get("state", ""), conclusion=None),
            conclusion=status.get("state", ""),
            updated_at=_when(status.get("updated_at") or status.get("created_at"), received_at),
            received_at=received_at,
        )
    # Check runs and workflow runs share a shape; each has its own timestamps.
    for source, runs, stamps in (
        (Source.CHECK_RUN, check_runs, ("completed_at", "started_at")),
        (Source.WORKFLOW_RUN, workflow_runs, ("updated_at", "created_at")),
    ):
        for run in runs or []:
            check_record(
                repository=commit.repository,
                sha=commit.sha,
                source=source,
                name=run.get("name") or str(run.get("id")),
                external_id=str(run.get("id")),
                state=normalize_state(
                    source=source, status=run.get("status", ""), conclusion=run.get("conclusion")
                ),
                conclusion=run.get("conclusion") or run.get("status") or "",
                updated_at=_when(run.get(stamps[0]) or run.get(stamps[1]), received_at),
                received_at=received_at,
            )
    statuses = [submission_ci_refresh(submission_id=pk) for pk in commit.submission_ids]
    return statuses[0] if statuses else CIStatus.NONE


def _when(text: str | None, default: datetime) -> datetime:
    parsed = parse_datetime(text) if text else None
    return parsed if parsed is not None and parsed.tzinfo is not None else default
