"""GitHub facts about learners' commits: pushes as they reached us, commit checks, and CI status derived from them."""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from core import clock
from submissions.models import CIStatus, CommitCheck, Push, Submission

BRANCH_PREFIX = "refs/heads/"
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# owner/name out of https://github.com/owner/name(.git)(/...) or git@github.com:owner/name.git
REPOSITORY_URL_RE = re.compile(
    r"github\.com[/:]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?(?:[/?#].*)?$"
)

# GitHub's check/workflow statuses before a conclusion exists.
_RUNNING = {"queued", "in_progress", "requested", "waiting", "pending"}
# Conclusions of a completed check run, suite, workflow run or job.
_CONCLUSION = {
    "success": CIStatus.SUCCESS,
    "neutral": CIStatus.SUCCESS,
    "skipped": CIStatus.SUCCESS,
    "failure": CIStatus.FAILURE,
    "timed_out": CIStatus.FAILURE,
    "action_required": CIStatus.FAILURE,
    "cancelled": CIStatus.ERROR,
    "stale": CIStatus.ERROR,
    "startup_failure": CIStatus.ERROR,
}
# A commit status's own states (the Statuses API).
_STATUS = {
    "pending": CIStatus.PENDING,
    "success": CIStatus.SUCCESS,
    "failure": CIStatus.FAILURE,
    "error": CIStatus.ERROR,
}


def repository_from_url(url: str) -> str:
    """owner/name (lower case) of a GitHub repository URL, or "" when it is not one."""
    match = REPOSITORY_URL_RE.search(url.strip())
    return f"{match[1]}/{match[2]}".lower() if match else ""


def normalize_state(*, source: str, status: str, conclusion: str | None) -> str:
    """GitHub's status (+ conclusion) as one of pending, success, failure, error."""
    status = (status or "").lower()
    conclusion = (conclusion or "").lower()
    if source == CommitCheck.Source.STATUS:
        return _STATUS.get(status, CIStatus.ERROR)
    if status in _RUNNING:
        return CIStatus.PENDING
    if conclusion:
        return _CONCLUSION.get(conclusion, CIStatus.ERROR)
    # Completed without a conclusion, or a status GitHub has not documented: not a success.
    return CIStatus.ERROR if status == "completed" else CIStatus.PENDING


@transaction.atomic
def push_record(
    *,
    repository: str,
    ref: str,
    before: str,
    after: str,
    commits: list[str],
    forced: bool,
    received_at: datetime,
    delivery_id: str,
) -> Push | None:
    """Record a push to a branch as it reached us; tags are not pushes to grade. Idempotent on delivery_id."""
    if not ref.startswith(BRANCH_PREFIX):
        return None
    push, _ = Push.objects.get_or_create(
        delivery_id=delivery_id,
        defaults={
            "repository": repository,
            "branch": ref[len(BRANCH_PREFIX) :],
            "before": before or "",
            "after": after,
            "commits": list(commits),
            "forced": bool(forced),
            "received_at": received_at,
        },
    )
    return push


@transaction.atomic
def check_record(
    *,
    repository: str,
    sha: str,
    source: str,
    name: str,
    external_id: str,
    state: str,
    conclusion: str,
    updated_at: datetime,
    received_at: datetime,
) -> bool:
    """Upsert one check of a commit; an update older (by GitHub's time) than the stored one never wins.

    True when something changed; the CI status of the submissions of that commit is then re-derived.
    """
    values = {
        "name": name[:255],
        "state": state,
        "conclusion": (conclusion or "")[:32],
        "updated_at": updated_at,
        "received_at": received_at,
    }
    check, created = CommitCheck.objects.select_for_update().get_or_create(
        repository=repository, sha=sha, source=source, external_id=external_id[:64], defaults=values
    )
    if not created:
        if updated_at < check.updated_at:
            return False
        # Same instant: a final state stands against a pending one (GitHub stamps "created" and
        # "completed" of a fast check with the same second).
        if updated_at == check.updated_at and state == CIStatus.PENDING and check.state != CIStatus.PENDING:
            return False
        if all(getattr(check, field) == value for field, value in values.items() if field != "received_at"):
            return False
        for field, value in values.items():
            setattr(check, field, value)
        check.save(update_fields=list(values))
    for submission_id in _submissions_of(repository=repository, sha=sha):
        submission_ci_refresh(submission_id=submission_id)
    return True


def _sha_prefixes(sha: str) -> list[str]:
    # A submission may name its commit by a short SHA (7 to 40 characters).
    return [sha[:n] for n in range(7, len(sha) + 1)]


def _submission_repository(submission: Submission) -> str:
    if submission.repository_id is not None:
        return submission.repository.full_name.lower()
    return repository_from_url(submission.repository_url)


def _submissions_of(*, repository: str, sha: str) -> list[int]:
    """Ids of the submissions pointing at this commit of this repository (case-insensitive owner/name)."""
    candidates = Submission.objects.filter(commit_sha__in=_sha_prefixes(sha.lower())).select_related(
        "repository"
    )
    wanted = repository.lower()
    return [s.pk for s in candidates if _submission_repository(s) == wanted]


def commit_ci_status(*, repository: str, sha: str, required: list[str]) -> str:
    """The CI status of a commit from its checks; `required` names the checks that count (empty: all).

    The latest check per (source, name) stands for that name (a re-run replaces the failed run).
    Any failure gives failure, then any error gives error; success needs every required name reported
    and successful; no checks at all (with nothing required) is none; anything else is pending.
    """
    query = Q(repository__iexact=repository)
    query &= Q(sha=sha.lower()) if len(sha) == 40 else Q(sha__startswith=sha.lower())
    latest: dict[tuple[str, str], CommitCheck] = {}
    for check in CommitCheck.objects.filter(query).order_by("updated_at", "pk"):
        latest[(check.source, check.name)] = check
    checks = list(latest.values())
    wanted = {name.casefold() for name in required if name.strip()}
    if wanted:
        checks = [c for c in checks if c.name.casefold() in wanted]
    if not checks and not wanted:
        return CIStatus.NONE
    states = {c.state for c in checks}
    if CIStatus.FAILURE in states:
        return CIStatus.FAILURE
    if CIStatus.ERROR in states:
        return CIStatus.ERROR
    reported = {c.name.casefold() for c in checks}
    if states == {CIStatus.SUCCESS} and wanted <= reported:
        return CIStatus.SUCCESS
    return CIStatus.PENDING


@transaction.atomic
def submission_ci_refresh(*, submission_id: int) -> str:
    """Re-derive a submission's CI status from the checks of its commit; saves it when it changed."""
    submission = (
        Submission.objects.select_for_update(of=("self",))
        .select_related("repository", "project")
        .get(pk=submission_id)
    )
    repository = _submission_repository(submission)
    status = (
        commit_ci_status(
            repository=repository,
            sha=submission.commit_sha,
            required=list(submission.project.required_checks or []),
        )
        if repository
        else CIStatus.NONE
    )
    if status != submission.ci_status:
        submission.ci_status = status
        submission.ci_checked_at = clock.now()
        submission.save(update_fields=["ci_status", "ci_checked_at"])
    return status
