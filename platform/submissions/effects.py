"""What calendar events do for submissions: transitions recorded, repositories planned, commits graded."""

from __future__ import annotations

from cohorts.effects import register
from cohorts.models import Cohort, CohortEvent
from cohorts.selectors import event_learners
from submissions.grading import graded_commit_record
from submissions.models import WindowTransition
from submissions.repositories import provisions_repositories, repositories_plan
from submissions.services import transition_record

Kind = CohortEvent.Kind
_TRANSITIONS = {
    Kind.OPEN: WindowTransition.Kind.OPEN,
    Kind.DUE: WindowTransition.Kind.DUE,
    Kind.CLOSE: WindowTransition.Kind.CLOSE,
}


@register(Kind.OPEN, Kind.DUE, Kind.CLOSE)
def record_transition(cohort: Cohort, event: CohortEvent) -> None:
    project = cohort.program.projects.get(key=event.subject)
    transition_record(
        cohort=cohort,
        project=project,
        kind=_TRANSITIONS[event.kind],
        enrollment_id=event.enrollment_id,
        at=event.at,
    )


@register(Kind.OPEN)
def plan_repositories(cohort: Cohort, event: CohortEvent) -> None:
    """Learners get their repository from the project's template: rows now, GitHub after commit."""
    project = cohort.program.projects.get(key=event.subject)
    if provisions_repositories(project):
        ids = event_learners(cohort=cohort, event=event, per_learner_windows=False)
        repositories_plan(cohort=cohort, project=project, enrollment_ids=ids)


@register(Kind.CLOSE)
def grade_commits(cohort: Cohort, event: CohortEvent) -> None:
    """At a learner's cut-off (the cohort's, or their own after an extension), choose the graded commit."""
    project = cohort.program.projects.get(key=event.subject)
    for enrollment in cohort.enrollments.filter(pk__in=event_learners(cohort=cohort, event=event)):
        graded_commit_record(enrollment=enrollment, project=project)
