"""Submission writes: record window transitions, and accept a learner's work only inside its window."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cohorts.calendar import local_text
from cohorts.models import Cohort, Enrollment
from core import clock
from programs.models import Project
from submissions.models import Submission, WindowTransition
from submissions.selectors import window_for


class SubmissionRefused(ValidationError):
    """A submission outside its window; the message says why and what to do."""


def transition_record(
    *, cohort: Cohort, project: Project, kind: str, enrollment_id: int | None, at: datetime
) -> WindowTransition:
    """Record that a window opened / passed due / closed; recording it twice keeps the first."""
    transition, _ = WindowTransition.objects.get_or_create(
        cohort=cohort, project=project, kind=kind, enrollment_id=enrollment_id, defaults={"at": at}
    )
    return transition


def _when(cohort: Cohort, at: datetime) -> str:
    """A calendar instant as staff and learners read it: in the cohort's zone, named; for a rehearsal,
    also the real instant it happens at (what a clock on the wall will show)."""
    text = f"{local_text(cohort, at)} ({cohort.timezone})"
    if cohort.speed != 1 and cohort.rehearsal_epoch is not None:
        real = cohort.to_real(at).astimezone(cohort.zone)
        text += f" on the rehearsal's calendar, at {real:%Y-%m-%d %H:%M:%S %Z} real time"
    return text


@transaction.atomic
def submission_create(
    *,
    enrollment: Enrollment,
    project: Project,
    repository_url: str,
    commit_sha: str,
    now: datetime | None = None,
) -> Submission:
    """Accept a submission inside the learner's open window; late after due + grace; refused after the cut-off."""
    now = now or clock.now()
    cohort = enrollment.cohort
    if project.program_id != cohort.program_id:
        raise SubmissionRefused({"project": f"'{project.key}' is not a project of {cohort.program.slug}."})
    at = cohort.calendar_now(now)
    window = window_for(enrollment=enrollment, project=project)
    if not WindowTransition.objects.filter(
        cohort=cohort, project=project, kind=WindowTransition.Kind.OPEN
    ).exists():
        raise SubmissionRefused(
            {
                "project": f"The window for '{project.key}' is not open yet; it opens "
                f"{_when(cohort, window.opens)}."
            }
        )
    if at >= window.cutoff:
        raise SubmissionRefused(
            {
                "project": f"The window for '{project.key}' closed at its cut-off "
                f"{_when(cohort, window.cutoff)}; ask staff for an extension."
            }
        )
    submission = Submission(
        enrollment=enrollment,
        project=project,
        repository_url=repository_url.strip(),
        commit_sha=commit_sha.strip().lower(),
        submitted_at=now,
        calendar_at=at,
        late=at > window.due + window.grace,
    )
    try:
        submission.full_clean()
    except ValidationError as exc:
        if "__all__" in exc.message_dict:  # the unique (learner, project, commit) check
            raise SubmissionRefused(
                {
                    "commit_sha": f"{submission.commit_sha[:7]} is already submitted for "
                    f"'{project.key}'; push a new commit to resubmit."
                }
            ) from exc
        raise
    try:
        with transaction.atomic():
            submission.save()
    except IntegrityError as exc:  # the same commit, submitted twice at the same moment
        raise SubmissionRefused(
            {"commit_sha": f"{submission.commit_sha[:7]} is already submitted for '{project.key}'."}
        ) from exc
    return submission
