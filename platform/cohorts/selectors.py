"""Cohort reads: the calendar as staff and learners see it, and whom an event speaks to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cohorts import calendar
from cohorts.models import Cohort, CohortEvent, beat_entry_prefix
from core import clock
from schedules import entries


@dataclass(frozen=True)
class CalendarRow:
    kind: str
    subject: str
    key: str
    learner: str | None
    local: str
    utc: str
    fire_at: str
    beat_entry: str
    state: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _iso_z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def calendar_rows(*, cohort: Cohort, now: datetime | None = None) -> list[CalendarRow]:
    """The current program's events in due order with local and UTC time, Beat entry and state."""
    now = now or clock.now()
    beat = entries.states(prefix=beat_entry_prefix(cohort.pk))
    rows = []
    events = CohortEvent.objects.filter(cohort=cohort, program_id=cohort.program_id).select_related(
        "enrollment"
    )
    for event in sorted(events, key=lambda e: calendar.sort_key(e.kind, e.at, e.key)):
        if event.done_at:
            state = event.outcome or CohortEvent.Outcome.DONE
        elif not cohort.is_active:
            state = cohort.status
        elif event.beat_entry not in beat:
            state = "missing-entry"
        elif event.fire_at <= now:
            state = "overdue"
        else:
            state = "scheduled" if beat[event.beat_entry] else "disabled"
        rows.append(
            CalendarRow(
                kind=event.kind,
                subject=event.subject,
                key=event.key,
                learner=event.enrollment.email if event.enrollment_id else None,
                local=cohort.local(event.at).isoformat(timespec="minutes"),
                utc=_iso_z(event.at),
                fire_at=_iso_z(event.fire_at),
                beat_entry=event.beat_entry,
                state=state,
            )
        )
    return rows


def event_learners(*, cohort: Cohort, event: CohortEvent, per_learner_windows: bool = True) -> list[int]:
    """Whom an event speaks to: its own learner, or every learner of the cohort; for a window event,
    not those who have their own (extended) events for that project."""
    if event.enrollment_id:
        return [event.enrollment_id]
    ids = set(cohort.enrollments.values_list("pk", flat=True))
    if per_learner_windows:
        ids -= set(
            cohort.events.filter(
                program_id=cohort.program_id, subject=event.subject, enrollment__isnull=False
            ).values_list("enrollment_id", flat=True)
        )
    return sorted(ids)
