"""What calendar events do for submissions: a window's opening, due and close are recorded."""

from __future__ import annotations

from cohorts.effects import register
from cohorts.models import Cohort, CohortEvent
from submissions.models import WindowTransition
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
