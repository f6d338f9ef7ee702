"""Carrying out calendar events, once each and in due order, through a registry of effects per kind.

Other apps add what an event does for them without editing the calendar (like Zulip's event-to-handler
table): submissions records window transitions, notifications writes the outbox. Each effect writes rows
keyed by a unique constraint, so running it twice leaves one row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, models, transaction

from cohorts import calendar
from cohorts.keys import EventKey
from cohorts.models import Cohort, CohortEvent, Release
from cohorts.sync import lock
from core import clock

logger = logging.getLogger("nexus.calendar")

Kind = CohortEvent.Kind
Outcome = CohortEvent.Outcome
Effect = Callable[[Cohort, CohortEvent], None]

# Beat may fire a hair early (clock granularity); an event more than this early, in calendar time, is
# a stale entry (a message sent before the event moved later). Calendar time: at a week a minute, 2 s
# of real time would be 5.6 hours of the calendar.
EARLY_TOLERANCE = timedelta(seconds=2)
# An effect that raises is tried again after a backoff; after this many attempts it is given up
# (failed, with its error, for staff to see) so the cohort's later events go on.
MAX_ATTEMPTS = 5
RETRY_BACKOFF = timedelta(minutes=1)
# Errors that mean "try the whole task again" rather than "this effect is broken": a locked or
# unreachable database (the task retries), and the task's soft time limit (it must stop now).
PASS_THROUGH: tuple[type[BaseException], ...] = (OperationalError, SoftTimeLimitExceeded)


class FireStatus(models.TextChoices):
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    ALREADY = "already", "Already done"
    EARLY = "early", "Early (a stale Beat entry)"
    INACTIVE = "inactive", "Cohort paused or finished"
    MISSING = "missing", "No such cohort or event"
    FAILED = "failed", "Failed"
    WAITING = "waiting", "Waiting for an earlier event to succeed"


@dataclass(frozen=True)
class FireOutcome:
    status: FireStatus
    key: str


_REGISTRY: dict[str, list[Effect]] = defaultdict(list)


def register(*kinds: Kind) -> Callable[[Effect], Effect]:
    """Decorator: run this effect for events of these kinds, in registration order (the calendar's
    own first, then the apps' in INSTALLED_APPS order), inside the event's transaction."""

    def add(effect: Effect) -> Effect:
        for kind in kinds:
            if effect not in _REGISTRY[kind]:
                _REGISTRY[kind].append(effect)
        return effect

    return add


def effects_for(kind: str) -> list[Effect]:
    return list(_REGISTRY[kind])


@transaction.atomic
def calendar_event_fire(*, cohort_id: int, key: str, now: datetime | None = None) -> FireOutcome:
    """Carry out one calendar event exactly once, however often it is called. Its cohort's earlier due
    events are carried out first, in due order, so whichever path runs an event (Beat, the reconciler,
    a retry) and however many worker processes run at once, a cohort's calendar happens in order."""
    now = now or clock.now()
    cohort = _locked(cohort_id)
    if cohort is None:
        return FireOutcome(FireStatus.MISSING, key)  # deleted after Beat sent it
    event = cohort.events.filter(program_id=cohort.program_id, key=key).first()
    if event is None:
        return FireOutcome(FireStatus.MISSING, key)
    if event.done_at is not None:
        return FireOutcome(FireStatus.ALREADY, key)
    if not cohort.is_active:
        return FireOutcome(FireStatus.INACTIVE, key)
    if event.at > cohort.calendar_now(now) + EARLY_TOLERANCE:
        return FireOutcome(FireStatus.EARLY, key)
    outcomes = _advance(cohort, now=now, upto=event)
    return outcomes.get(key, FireOutcome(FireStatus.WAITING, key))


@transaction.atomic
def cohort_calendar_advance(*, cohort_id: int, now: datetime | None = None) -> list[FireOutcome]:
    """Carry out, in due order, every event of the cohort that is due by now (the reconciler's step)."""
    now = now or clock.now()
    cohort = _locked(cohort_id)
    if cohort is None or not cohort.is_active:
        return []
    return list(_advance(cohort, now=now).values())


def _locked(cohort_id: int) -> Cohort | None:
    try:
        return lock(cohort_id)
    except Cohort.DoesNotExist:
        return None


def _advance(cohort: Cohort, *, now: datetime, upto: CohortEvent | None = None) -> dict[str, FireOutcome]:
    calendar_now = cohort.calendar_now(now)
    limit = upto.at if upto is not None else calendar_now
    pending = list(
        cohort.events.select_for_update()
        .filter(program_id=cohort.program_id, done_at__isnull=True)
        .filter(
            models.Q(override_at__lte=limit) | models.Q(override_at__isnull=True, scheduled_at__lte=limit)
        )
    )
    pending.sort(key=lambda e: calendar.sort_key(e.kind, e.at, e.key))
    if upto is not None:
        pending = pending[: next(i for i, e in enumerate(pending) if e.pk == upto.pk) + 1]
    outcomes: dict[str, FireOutcome] = {}
    for event in pending:
        if event.retry_at is not None and event.retry_at > now:
            outcomes[event.key] = FireOutcome(FireStatus.WAITING, event.key)
            break  # a failed event waits for its retry; the cohort's later events wait behind it
        status = _carry_out(cohort, event, now=now, calendar_now=calendar_now)
        outcomes[event.key] = FireOutcome(status, event.key)
        if status == FireStatus.FAILED and event.done_at is None:
            break
    if outcomes:
        _update_status(cohort)
    return outcomes


def _carry_out(cohort: Cohort, event: CohortEvent, *, now: datetime, calendar_now: datetime) -> FireStatus:
    if event.kind == Kind.REMIND and calendar_now >= _due_of(cohort, event):
        # A catch-up after downtime: "1 hour left" after the due has passed would be a lie.
        _finish(event, now, Outcome.SKIPPED)
        logger.info("calendar event skipped (its due has passed): cohort %s %s", cohort.pk, event.key)
        return FireStatus.SKIPPED
    try:
        with transaction.atomic():
            for effect in _REGISTRY[event.kind]:
                effect(cohort, event)
    except PASS_THROUGH:
        raise
    except Exception as exc:  # noqa: BLE001 - any effect's error is recorded on the event and retried
        _fail(cohort, event, now, exc)
        return FireStatus.FAILED
    _finish(event, now, Outcome.DONE)
    logger.info("calendar event done: cohort %s %s", cohort.pk, event.key)
    return FireStatus.DONE


def _due_of(cohort: Cohort, event: CohortEvent) -> datetime:
    due_key = EventKey(Kind.DUE, event.subject, None, event.enrollment_id)
    due = cohort.events.filter(program_id=cohort.program_id, key=str(due_key)).first()
    return due.at if due is not None else event.at


def _finish(event: CohortEvent, now: datetime, outcome: Outcome) -> None:
    event.done_at, event.outcome, event.retry_at = now, outcome, None
    event.save(update_fields=["done_at", "outcome", "retry_at"])


def _fail(cohort: Cohort, event: CohortEvent, now: datetime, exc: Exception) -> None:
    event.attempts += 1
    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.done_at, event.outcome, event.retry_at = now, Outcome.FAILED, None
        logger.error(
            "calendar event %s of cohort %s failed %d times; given up: %s",
            event.key,
            cohort.pk,
            event.attempts,
            event.last_error,
        )
    else:
        event.retry_at = now + RETRY_BACKOFF * 2 ** (event.attempts - 1)
        logger.warning(
            "calendar event %s of cohort %s failed (attempt %d, retry after %s): %s",
            event.key,
            cohort.pk,
            event.attempts,
            event.retry_at.isoformat(timespec="seconds"),
            event.last_error,
            exc_info=exc,
        )
    event.save(update_fields=["attempts", "last_error", "retry_at", "done_at", "outcome"])


def _update_status(cohort: Cohort) -> None:
    status = cohort.status
    if status == Cohort.Status.SCHEDULED and cohort.events.filter(outcome=Outcome.DONE).exists():
        status = Cohort.Status.RUNNING
    if not cohort.events.filter(program_id=cohort.program_id, done_at__isnull=True).exists():
        status = Cohort.Status.FINISHED
    if status != cohort.status:
        cohort.status = status
        cohort.save(update_fields=["status"])


# --- the calendar's own effect, registered first: a unit's release ---------------------------------


@register(Kind.UNLOCK)
def release_unit(cohort: Cohort, event: CohortEvent) -> None:
    unit = cohort.program.units.get(key=event.subject)
    Release.objects.get_or_create(cohort=cohort, unit=unit, defaults={"released_at": event.at})
