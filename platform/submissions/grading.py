"""The graded commit at a learner's cut-off (the last push that reached us before their due), and telling them its CI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F

from cohorts.models import Enrollment
from core import clock
from programs.models import Project
from submissions.github import commit_ci_status
from submissions.models import CIStatus, LearnerRepository, Push, Submission
from submissions.selectors import window_for

DELETED = "0" * 40
FINAL = (CIStatus.SUCCESS, CIStatus.FAILURE, CIStatus.ERROR)


def graded_push(*, repository: LearnerRepository, before: datetime) -> Push | None:
    """The last push to the repository's default branch that reached us before the instant.

    Judged by when GitHub's delivery reached us (received_at), never by the commits' author or
    committer dates, which the learner's machine sets. A push that deleted the branch leaves nothing.
    """
    branch = repository.default_branch or "main"
    push = (
        Push.objects.filter(
            repository__iexact=repository.full_name,
            branch__in=[branch, f"refs/heads/{branch}"],
            received_at__lt=before,
        )
        .order_by("-received_at", "-pk")
        .first()
    )
    if push is None or push.after == DELETED:
        return None
    return push


@transaction.atomic
def graded_commit_record(
    *, enrollment: Enrollment, project: Project, now: datetime | None = None
) -> Submission | None:
    """Choose and record the learner's graded commit for the project (at their cut-off).

    The commit is the head of the last push received before their effective due (extensions
    applied; in a rehearsal, the real instant that due happens at). It is recorded on the learner's
    submission of that commit, created if they never submitted it, with its CI status. Run twice, the
    same submission stays graded; a later run after the due moved re-chooses and moves the mark.
    """
    now = now or clock.now()
    repository = LearnerRepository.objects.filter(
        enrollment=enrollment, project=project, state=LearnerRepository.State.READY
    ).first()
    if repository is None:
        return None
    cohort = enrollment.cohort
    due = cohort.to_real(window_for(enrollment=enrollment, project=project).due)
    push = graded_push(repository=repository, before=due)
    if push is None:
        return None
    sha = push.after.lower()
    submission = (
        Submission.objects.select_for_update()
        .filter(enrollment=enrollment, project=project, commit_sha__in=[sha[:n] for n in range(7, 41)])
        .first()
    )
    if submission is None:
        submission = Submission(
            enrollment=enrollment,
            project=project,
            repository_url=repository.html_url or f"https://github.com/{repository.full_name}",
            commit_sha=sha,
            submitted_at=push.received_at,
            calendar_at=cohort.calendar_now(push.received_at),
            late=False,
        )
    Submission.objects.filter(enrollment=enrollment, project=project, graded_at__isnull=False).exclude(
        pk=submission.pk
    ).update(graded_at=None)
    submission.graded_at = submission.graded_at or now
    submission.repository = repository
    status = commit_ci_status(
        repository=repository.full_name, sha=sha, required=list(project.required_checks or [])
    )
    if status != submission.ci_status:
        submission.ci_status, submission.ci_checked_at = status, now
    submission.full_clean()
    submission.save()
    return submission


@dataclass(frozen=True)
class CIResult:
    """A graded submission's final CI status, to tell its learner."""

    submission_id: int
    cohort_id: int
    enrollment_id: int
    project_key: str
    project_title: str
    status: str  # what the learner hears: success or failure
    ci_status: str  # the submission's own status (an error is told as a failure)
    sha: str
    repository: str
    url: str
    graded_at: datetime


@transaction.atomic
def graded_ci_untold(*, limit: int = 500) -> list[CIResult]:
    """Graded submissions whose CI became final and whose learner was not told that status yet; each
    is marked told (ci_notified) in this transaction, so the caller writes the notification in it too."""
    rows = list(
        Submission.objects.select_for_update(of=("self",))
        .select_related("project", "enrollment", "repository")
        .filter(graded_at__isnull=False, ci_status__in=FINAL)
        .exclude(ci_notified=F("ci_status"))
        .order_by("pk")[:limit]
    )
    told = []
    for submission in rows:
        told_as = _told_as(submission.ci_status)
        if _told_as(submission.ci_notified) == told_as:
            continue  # failure then error: the learner already knows it failed
        submission.ci_notified = submission.ci_status
        submission.save(update_fields=["ci_notified"])
        full_name = submission.repository.full_name if submission.repository_id else ""
        told.append(
            CIResult(
                submission_id=submission.pk,
                cohort_id=submission.enrollment.cohort_id,
                enrollment_id=submission.enrollment_id,
                project_key=submission.project.key,
                project_title=submission.project.title,
                status=told_as,
                ci_status=submission.ci_status,
                sha=submission.commit_sha,
                repository=full_name,
                url=_commit_url(submission),
                graded_at=submission.graded_at,
            )
        )
    return told


def _told_as(status: str) -> str:
    """What a learner hears: passed, or failed (a CI error is a failure to them)."""
    if status == CIStatus.SUCCESS:
        return CIStatus.SUCCESS
    return CIStatus.FAILURE if status in FINAL else ""


def _commit_url(submission: Submission) -> str:
    base = (submission.repository.html_url if submission.repository_id else "") or submission.repository_url
    return f"{base.rstrip('/')}/commit/{submission.commit_sha}" if base else ""


def graded_since(*, since: timedelta, now: datetime | None = None) -> list[int]:
    """Graded submissions of the last `since` whose CI is not final (the sweep polls them)."""
    now = now or clock.now()
    return list(
        Submission.objects.filter(
            graded_at__gte=now - since, ci_status__in=[CIStatus.NONE, CIStatus.PENDING]
        ).values_list("pk", flat=True)
    )
