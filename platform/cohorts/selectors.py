"""Cohort reads: the calendar as staff and learners see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cohorts.models import Cohort, CohortEvent
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


# Within one instant: a unit unlocks before its project opens, a window is due before it closes.
KIND_ORDER = [k.value for k in CohortEvent.Kind]


def _iso_z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def calendar_rows(*, cohort: Cohort, now: datetime | None = None) -> list[CalendarRow]:
    """Every event in due order with its local and UTC time, Beat entry and state."""
    now = now or datetime.now(tz=UTC)
    beat = entries.states(prefix=f"cohort-{cohort.pk}:")
    rows = []
    events = CohortEvent.objects.filter(cohort=cohort).select_related("enrollment")
    for event in sorted(events, key=lambda e: (e.fire_at, KIND_ORDER.index(e.kind), e.key)):
        if event.done_at:
            state = "done"
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
