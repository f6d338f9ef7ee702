"""Cohort reads: the calendar as staff and learners see it (rows, the admin's weeks, event states), and
whom an event speaks to."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import models
from django.db.models import F, Min, OuterRef, Q, QuerySet, Subquery

from cohorts import calendar
from cohorts.models import Cohort, CohortEvent, Release, beat_entry_prefix
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


# --- the admin's calendar page ------------------------------------------------------------------


class EventState(models.TextChoices):
    """Where an event stands, as staff read it on the calendar page and the events list."""

    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    DUE = "due", "Due now"
    NEXT = "next", "Next"
    SCHEDULED = "scheduled", "Scheduled"
    PAUSED = "paused", "Paused"


def event_state(
    event: CohortEvent, *, cohort: Cohort, now: datetime, next_fire_at: datetime | None
) -> EventState:
    """One event's state; next_fire_at is the earliest fire time of the cohort's pending future events."""
    if event.done_at is not None:
        return EventState(event.outcome or EventState.DONE)
    if cohort.status == Cohort.Status.PAUSED:
        return EventState.PAUSED
    if event.fire_at <= now:
        return EventState.DUE  # fired or firing: the worker (or the reconciler) is carrying it out
    if next_fire_at is not None and event.fire_at <= next_fire_at:
        return EventState.NEXT
    return EventState.SCHEDULED


def _next_fire_at(now: datetime) -> Subquery:
    """Per row: the earliest fire time of its cohort's pending future events (its program's)."""
    pending = CohortEvent.objects.filter(
        cohort_id=OuterRef("cohort_id"),
        program_id=OuterRef("cohort__program_id"),
        done_at__isnull=True,
        fire_at__gt=now,
    )
    return Subquery(pending.order_by().values("cohort_id").annotate(first=Min("fire_at")).values("first")[:1])


def events_with_state(queryset: QuerySet, *, now: datetime | None = None) -> QuerySet:
    """Events annotated with `next_fire_at` (see event_state) and their cohort joined: one query for a list."""
    now = now or clock.now()
    return queryset.select_related("cohort").annotate(next_fire_at=_next_fire_at(now))


def events_in_state(queryset: QuerySet, state: str, *, now: datetime | None = None) -> QuerySet:
    """The events of queryset in one state (as event_state says), filtered in the database."""
    now = now or clock.now()
    pending = Q(done_at__isnull=True)
    active = ~Q(cohort__status=Cohort.Status.PAUSED)
    if state in (EventState.DONE, EventState.SKIPPED, EventState.FAILED):
        return queryset.filter(outcome=state).exclude(done_at__isnull=True)
    if state == EventState.PAUSED:
        return queryset.filter(pending, cohort__status=Cohort.Status.PAUSED)
    if state == EventState.DUE:
        return queryset.filter(pending, active, fire_at__lte=now)
    future = queryset.filter(pending, active, fire_at__gt=now).annotate(next_fire_at=_next_fire_at(now))
    if state == EventState.NEXT:
        return future.filter(fire_at__lte=F("next_fire_at"))
    if state == EventState.SCHEDULED:
        return future.filter(fire_at__gt=F("next_fire_at"))
    return queryset.none()


# What an effect reader gives: event pk -> short texts ("released 09:00:00", "3 notifications").
EffectReader = Callable[[Cohort, Sequence[CohortEvent]], Mapping[int, str]]


@dataclass(frozen=True)
class WeekEvent:
    pk: int
    key: str
    kind: str
    kind_label: str
    subject: str
    learner: str | None
    day: str  # local date, e.g. "Mon 04 Jan"
    local_time: str  # local wall-clock time with seconds and the zone's abbreviation
    utc: str
    fires_at: str  # the real instant Beat fires it (UTC, seconds); differs from utc in a rehearsal
    rehearsed: bool  # fires_at is not the calendar instant
    moved: bool
    state: str
    state_label: str
    error: str
    beat_entry: str
    beat: str  # "armed", "disabled" or "missing"
    effects: tuple[str, ...]


@dataclass(frozen=True)
class CalendarWeek:
    number: int
    first_day: date
    last_day: date
    current: bool
    events: list[WeekEvent]

    @property
    def anchor(self) -> str:
        return f"week-{self.number}"


@dataclass(frozen=True)
class CalendarPage:
    zone: str
    rehearsal: bool
    playing: bool  # a rehearsal under way: the page reloads itself
    calendar_now: str  # local, with seconds and zone
    real_now: str  # UTC
    current_week: int
    weeks: list[CalendarWeek]
    states: dict[str, int]


def cohort_week(cohort: Cohort, day: date) -> int:
    """Week N of the cohort a local date falls in (week 0 is the Monday-Sunday week of the start)."""
    week0 = cohort.start_date - timedelta(days=cohort.start_date.weekday())
    return (day - week0).days // 7


def _releases(cohort: Cohort, events: Sequence[CohortEvent]) -> dict[int, str]:
    released = {
        (r.unit.program_id, r.unit.key): r.released_at
        for r in Release.objects.filter(cohort=cohort).select_related("unit")
    }
    out = {}
    for event in events:
        at = (
            released.get((event.program_id, event.subject)) if event.kind == CohortEvent.Kind.UNLOCK else None
        )
        if at is not None:
            out[event.pk] = f"released {cohort.local(at):%a %H:%M:%S %Z}"
    return out


def calendar_weeks(
    *, cohort: Cohort, now: datetime | None = None, effects: Sequence[EffectReader] = ()
) -> CalendarPage:
    """The cohort's current calendar by week (local dates), in due order, with each event's state, Beat
    entry and the effects it produced. A fixed number of queries, whatever the number of events: the
    events, the Beat entries, the releases, and one per effect reader."""
    now = now or clock.now()
    zone = cohort.zone
    beat = entries.states(prefix=beat_entry_prefix(cohort.pk))
    events = sorted(
        CohortEvent.objects.filter(cohort=cohort, program_id=cohort.program_id).select_related("enrollment"),
        key=lambda e: calendar.sort_key(e.kind, e.at, e.key),
    )
    produced: dict[int, list[str]] = {}
    for reader in (_releases, *effects):
        for pk, text in reader(cohort, events).items():
            produced.setdefault(pk, []).append(text)
    upcoming = [e.fire_at for e in events if e.done_at is None and e.fire_at > now]
    next_fire_at = min(upcoming, default=None)
    calendar_now = cohort.calendar_now(now).astimezone(zone)
    weeks: dict[int, list[WeekEvent]] = {}
    states: dict[str, int] = {}
    for event in events:
        local = event.at.astimezone(zone)
        state = event_state(event, cohort=cohort, now=now, next_fire_at=next_fire_at)
        states[state] = states.get(state, 0) + 1
        label = state.label
        if state in (EventState.DONE, EventState.SKIPPED, EventState.FAILED) and event.done_at:
            label = f"{label} at {event.done_at.astimezone(zone):%H:%M:%S %Z}"
        error = event.last_error if state == EventState.FAILED or event.attempts else ""
        if error and event.done_at is None and event.retry_at:
            error = f"attempt {event.attempts} failed, retry at {_hms(event.retry_at)}: {error}"
        entry = event.beat_entry
        weeks.setdefault(cohort_week(cohort, local.date()), []).append(
            WeekEvent(
                pk=event.pk,
                key=event.key,
                kind=event.kind,
                kind_label=event.get_kind_display(),
                subject=event.subject,
                learner=event.enrollment.email if event.enrollment_id else None,
                day=f"{local:%a %d %b}",
                local_time=f"{local:%H:%M:%S %Z}",
                utc=_hms(event.at),
                fires_at=_hms(event.fire_at),
                rehearsed=event.fire_at != event.at,
                moved=event.override_at is not None,
                state=state.value,
                state_label=label,
                error=error,
                beat_entry=entry,
                beat="missing" if entry not in beat else ("armed" if beat[entry] else "disabled"),
                effects=tuple(produced.get(event.pk, ())),
            )
        )
    current = cohort_week(cohort, calendar_now.date())
    if weeks:
        current = min(max(current, min(weeks)), max(weeks))
    rehearsal = cohort.speed != 1
    return CalendarPage(
        zone=zone.key,
        rehearsal=rehearsal,
        playing=rehearsal and cohort.is_active and next_fire_at is not None,
        calendar_now=f"{calendar_now:%a %Y-%m-%d %H:%M:%S %Z}",
        real_now=_hms(now),
        current_week=current,
        weeks=[_week(cohort, number, rows, current) for number, rows in sorted(weeks.items())],
        states=states,
    )


def _week(cohort: Cohort, number: int, rows: list[WeekEvent], current: int) -> CalendarWeek:
    week0 = cohort.start_date - timedelta(days=cohort.start_date.weekday())
    first = week0 + timedelta(weeks=number)
    return CalendarWeek(
        number=number,
        first_day=first,
        last_day=first + timedelta(days=6),
        current=number == current,
        events=rows,
    )


def _hms(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
