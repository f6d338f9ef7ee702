"""The calendar -> event records: store what the program (and staff's moves) say, mirror it into Beat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from cohorts import calendar
from cohorts.changes import Snapshot, dates_diff, dates_snapshot
from cohorts.models import Cohort, CohortEvent, beat_entry_name, beat_entry_prefix
from cohorts.signals import dates_changed
from core import clock
from schedules import entries

FIRE_TASK = "nexus.calendar.fire_event"
Kind = CohortEvent.Kind


@dataclass
class SyncReport:
    events: int
    created: int
    moved: int
    deleted: int
    skipped: int
    beat: entries.SyncResult


def lock(cohort: Cohort | int) -> Cohort:
    """The cohort row, locked: every writer of a cohort's calendar takes this first (then its events),
    so a pause committed meanwhile is seen and two writers never deadlock."""
    pk = cohort if isinstance(cohort, int) else cohort.pk
    return Cohort.objects.select_for_update(of=("self",)).select_related("program").get(pk=pk)


@transaction.atomic
def cohort_calendar_sync(
    *, cohort: Cohort, now: datetime | None = None, before: Snapshot | None = None, announce: bool = True
) -> SyncReport:
    """Recompute the cohort's calendar, store what moved, and mirror it into Beat entries.

    Only the current program's events are planned. Done events stay as they happened (history, also
    when their unit or project is gone or belongs to a former program); pending events that are no
    longer planned are dropped. A reminder whose moment has already passed when it is planned (a late
    extension, a cohort created mid-way) is recorded as skipped, never sent.

    Learners whose dates moved are announced (signals.dates_changed) unless announce is False (the caller
    tells them itself, e.g. an extension grant). A caller that edits events before calling this passes
    the snapshot it took first (`before`), so the moves it made are seen.
    """
    now = now or clock.now()
    cohort = lock(cohort)
    if announce and before is None:
        before = dates_snapshot(cohort)
    existing = {e.key: e for e in cohort.events.filter(program_id=cohort.program_id)}
    overrides = {k: e.override_at for k, e in existing.items() if e.override_at}
    planned = calendar.plan(cohort, overrides)
    calendar.validate(cohort, planned, overrides)
    calendar_now = cohort.calendar_now(now)
    created = moved = skipped = 0
    keep: set[str] = set()
    to_create = []
    for p in planned:
        keep.add(p.name)
        event = existing.get(p.name)
        if event is None:
            event = CohortEvent(
                cohort=cohort,
                program_id=cohort.program_id,
                key=p.name,
                kind=p.kind,
                subject=p.subject,
                enrollment_id=p.enrollment_id,
                scheduled_at=p.at,
                fire_at=cohort.to_real(p.at),
            )
            if _reminder_past(event, calendar_now):
                _skip(event, now)
                skipped += 1
            to_create.append(event)
            created += 1
            continue
        if event.done_at is not None:
            continue  # history: a done event keeps the time it happened at
        fire_at = cohort.to_real(event.override_at or p.at)
        if event.scheduled_at != p.at or event.fire_at != fire_at:
            event.scheduled_at, event.fire_at = p.at, fire_at
            fields = ["scheduled_at", "fire_at"]
            if _reminder_past(event, calendar_now):
                _skip(event, now)
                skipped += 1
                fields += ["done_at", "outcome"]
            event.save(update_fields=fields)
            moved += 1
    CohortEvent.objects.bulk_create(to_create, batch_size=500)
    stale = CohortEvent.objects.filter(cohort=cohort, done_at__isnull=True).exclude(
        program_id=cohort.program_id, key__in=keep
    )
    deleted, _ = stale.delete()
    pending = cohort.events.filter(program_id=cohort.program_id, done_at__isnull=True).exists()
    if cohort.status == Cohort.Status.FINISHED and pending:
        cohort.status = Cohort.Status.RUNNING  # e.g. an extension granted after the last event
        cohort.save(update_fields=["status"])
    beat = entries.sync(prefix=beat_entry_prefix(cohort.pk), records=_records(cohort, keep=keep, now=now))
    if announce and before is not None:
        changes = dates_diff(before, cohort)
        if changes:
            dates_changed.send(sender=Cohort, cohort=cohort, changes=changes)
    return SyncReport(
        events=len(planned), created=created, moved=moved, deleted=deleted, skipped=skipped, beat=beat
    )


def _reminder_past(event: CohortEvent, calendar_now: datetime) -> bool:
    return event.kind == Kind.REMIND and event.at <= calendar_now


def _skip(event: CohortEvent, now: datetime) -> None:
    event.done_at, event.outcome = now, CohortEvent.Outcome.SKIPPED


def _records(cohort: Cohort, *, keep: set[str], now: datetime) -> list[entries.EventRecord]:
    rearm = now - timedelta(seconds=settings.NEXUS_REARM_WINDOW)
    records = []
    for event in cohort.events.filter(program_id=cohort.program_id, key__in=keep):
        # Paused: nothing fires. Done: nothing left to do. An event already past (a resume, a cohort
        # created late, an edit) is left to the reconciler; one that fell due just now stays armed.
        # Either way events run in due order: carrying one out first carries out the earlier ones.
        enabled = cohort.is_active and event.done_at is None and event.fire_at > rearm
        records.append(
            entries.EventRecord(
                name=beat_entry_name(cohort.pk, event.key),
                task=FIRE_TASK,
                kwargs={"cohort_id": cohort.pk, "event": event.key},
                instant=event.fire_at,
                enabled=enabled,
                description=f"{cohort.name}: {event.get_kind_display()} {event.subject}",
            )
        )
    return records
