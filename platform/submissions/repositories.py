"""Learners' repositories: from a project's template (planned when a window opens, then provisioned by a
task), or an existing repository staff link by hand."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from cohorts.models import Cohort, Enrollment
from core import clock
from core.github_names import is_branch, repository_full_name
from programs.models import Project
from submissions.grading import graded_commit_record
from submissions.models import LearnerRepository, WindowTransition
from submissions.selectors import window_for

State = LearnerRepository.State
NO_LOGIN = (
    "The learner has no GitHub login: set it on their enrollment; the repository is then created "
    "at the next provisioning run (or use the retry action)."
)


def repository_name(*, project: Project, enrollment: Enrollment) -> str:
    """owner/name of a learner's repository: <organisation>/<project key>-<GitHub login>."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{project.key}-{enrollment.github_login}")
    return f"{project.github_organization}/{name}"


def provisions_repositories(project: Project) -> bool:
    return bool(project.template_repository and project.github_organization)


def repositories_plan(*, cohort: Cohort, project: Project, enrollment_ids: list[int]) -> list[int]:
    """Rows to create for these learners (when the window opens); existing rows are kept as they are.

    Called inside the calendar event's transaction; the task that fired the event has the rows
    provisioned once it commits. Returns the ids of the rows waiting to be provisioned.
    """
    if not provisions_repositories(project):
        return []
    learners = Enrollment.objects.filter(cohort=cohort, pk__in=enrollment_ids)
    rows = [
        LearnerRepository(
            enrollment=learner,
            project=project,
            full_name=repository_name(project=project, enrollment=learner) if learner.github_login else "",
            state=State.PENDING,
        )
        for learner in learners
    ]
    LearnerRepository.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        LearnerRepository.objects.filter(
            project=project, enrollment_id__in=enrollment_ids, state=State.PENDING
        ).values_list("pk", flat=True)
    )


def repositories_plan_open() -> int:
    """Plan rows for learners who have none in a window that is open: they enrolled after it opened,
    or the project got its template since. The provisioning sweep runs this first."""
    planned = 0
    opened = WindowTransition.objects.filter(
        kind=WindowTransition.Kind.OPEN, enrollment__isnull=True
    ).select_related("cohort", "project")
    for transition in opened:
        project, cohort = transition.project, transition.cohort
        if not provisions_repositories(project) or not cohort.is_active:
            continue
        closed = WindowTransition.objects.filter(
            cohort=cohort, project=project, kind=WindowTransition.Kind.CLOSE, enrollment__isnull=True
        ).exists()
        if closed:
            continue
        missing = list(cohort.enrollments.exclude(repositories__project=project).values_list("pk", flat=True))
        if missing:
            planned += len(repositories_plan(cohort=cohort, project=project, enrollment_ids=missing))
    return planned


def repositories_to_provision() -> list[int]:
    """Rows waiting for the provisioning task: pending ones, and ones that failed for want of a login
    whose learner now has one."""
    waiting_for_login = Q(state=State.FAILED, full_name="") & ~Q(enrollment__github_login="")
    return list(
        LearnerRepository.objects.filter(Q(state=State.PENDING) | waiting_for_login)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class Provision:
    """What the task must ask GitHub for one row."""

    repository_id: int
    template: str
    owner: str
    name: str
    login: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@transaction.atomic
def repository_claim(*, repository_id: int) -> Provision | None:
    """The row's provisioning plan, or None when there is nothing to do (ready already, gone, or the
    learner has no login: then the row is marked failed with the reason for staff)."""
    row = (
        LearnerRepository.objects.select_for_update(of=("self",))
        .select_related("enrollment", "project")
        .filter(pk=repository_id)
        .first()
    )
    if row is None or row.state == State.READY:
        return None
    if not provisions_repositories(row.project):
        _fail(row, "The project has no template repository or organisation to create it from.")
        return None
    login = row.enrollment.github_login
    if not login:
        row.full_name = ""
        _fail(row, NO_LOGIN)
        return None
    full_name = repository_name(project=row.project, enrollment=row.enrollment)
    if row.state != State.PENDING or row.full_name != full_name:
        row.state, row.full_name = State.PENDING, full_name
        row.save(update_fields=["state", "full_name", "updated_at"])
    owner, name = full_name.split("/", 1)
    return Provision(row.pk, row.project.template_repository, owner, name, login)


@transaction.atomic
def repository_ready(
    *, repository_id: int, full_name: str, html_url: str, default_branch: str
) -> LearnerRepository | None:
    """Record a created (or adopted) repository with its collaborator added. Returns the row when it
    became ready now, None when it already was (a second run: the learner was told once)."""
    row = LearnerRepository.objects.select_for_update().get(pk=repository_id)
    if row.state == State.READY:
        return None
    row.full_name, row.html_url, row.default_branch = full_name, html_url, default_branch or "main"
    row.state, row.collaborator_added, row.last_error = State.READY, True, ""
    row.attempts += 1
    row.save()
    return row


@transaction.atomic
def repository_failed(*, repository_id: int, error: str, transient: bool) -> LearnerRepository:
    """Record a failed attempt: a transient one stays pending (tried again by the next run) until the
    last attempt; a permanent one fails at once, with the error for staff."""
    row = LearnerRepository.objects.select_for_update().get(pk=repository_id)
    if row.state == State.READY:
        return row  # linked by hand (or made) while this attempt ran: that stands
    row.attempts += 1
    if transient and row.attempts < settings.NEXUS_GITHUB_PROVISION_ATTEMPTS:
        row.last_error = error[:2000]
        row.save(update_fields=["attempts", "last_error", "updated_at"])
    else:
        _fail(row, error, counted=True)
    return row


@transaction.atomic
def repositories_retry(*, repository_ids: list[int]) -> list[int]:
    """Staff's retry: failed (or stuck pending) rows go back to pending with a fresh attempt count."""
    rows = (
        LearnerRepository.objects.select_for_update().filter(pk__in=repository_ids).exclude(state=State.READY)
    )
    ids = list(rows.values_list("pk", flat=True))
    LearnerRepository.objects.filter(pk__in=ids).update(state=State.PENDING, attempts=0, last_error="")
    return ids


def _fail(row: LearnerRepository, error: str, *, counted: bool = False) -> None:
    row.state, row.last_error = State.FAILED, error[:2000]
    if not counted:
        row.attempts += 1
    row.save(update_fields=["state", "last_error", "attempts", "full_name", "updated_at"])


@dataclass(frozen=True)
class Linked:
    repository: LearnerRepository
    past_cutoff: bool  # the learner's cut-off had passed: their graded commit was chosen again now
    graded_sha: str  # what that chose ("" when no push to it reached Nexus before their due)


@transaction.atomic
def repository_link(
    *, enrollment: Enrollment, project: Project, full_name: str, default_branch: str = "main"
) -> Linked:
    """Link a learner's existing repository to a project (no template, or one made outside Nexus).

    It is ready at once: its pushes, including those recorded before the link (deliveries about a
    repository no learner owned are kept), count for grading. A row the template provisioning made or
    failed to make is replaced. If the learner's cut-off has passed, the graded commit is chosen now.
    ValidationError names the field to fix.
    """
    try:
        full_name = repository_full_name(full_name)
    except ValueError as exc:
        raise ValidationError({"full_name": str(exc)}) from None
    default_branch = (default_branch or "main").strip()
    if not is_branch(default_branch):
        raise ValidationError(
            {"default_branch": f"{default_branch!r} is not a branch name git accepts, e.g. main."}
        )
    if project.program_id != enrollment.cohort.program_id:
        raise ValidationError(
            {"project": f"{project.key} is a project of another program than {enrollment.cohort}'s."}
        )
    other = (
        LearnerRepository.objects.filter(project=project, full_name__iexact=full_name)
        .exclude(enrollment=enrollment)
        .select_related("enrollment")
        .first()
    )
    if other is not None:
        raise ValidationError(
            {"full_name": f"{full_name} is already {other.enrollment.email}'s repository for {project.key}."}
        )
    row, _ = LearnerRepository.objects.select_for_update().get_or_create(
        enrollment=enrollment, project=project
    )
    row.full_name, row.default_branch = full_name, default_branch
    row.html_url = f"https://github.com/{full_name}"
    row.state, row.last_error = State.READY, ""
    row.full_clean()
    row.save()
    cohort = enrollment.cohort
    past_cutoff = cohort.to_real(window_for(enrollment=enrollment, project=project).cutoff) <= clock.now()
    graded = graded_commit_record(enrollment=enrollment, project=project) if past_cutoff else None
    return Linked(row, past_cutoff, graded.commit_sha if graded else "")
