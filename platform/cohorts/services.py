"""Cohort writes: create and edit (re-syncing the calendar into Beat), pause, resume, delete, learners,
extensions, overrides, and carrying out calendar events exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from cohorts import calendar
from cohorts.models import (
    Cohort,
    CohortEvent,
    Enrollment,
    Extension,
    Release,
    beat_entry_name,
    beat_entry_prefix,
)
from notifications.models import Notification
from notifications.services import outbox_write
from programs.models import Program, Project, Unit
from schedules import entries

logger = logging.getLogger("nexus.calendar")

FIRE_TASK = "nexus.calendar.fire_event"
# Beat may fire a hair early (clock granularity); an event more than this early is a stale entry.
EARLY_TOLERANCE = timedelta(seconds=2)


def _now() -> datetime:
    return datetime.now(tz=UTC)


# --- cohorts ------------------------------------------------------------------------------------


@transaction.atomic
def cohort_create(
    *,
    program: Program,
    name: str,
    start_date: date,
    timezone: str,
    anchors: dict[str, str] | None = None,
    speed: float = 1.0,
    now: datetime | None = None,
) -> Cohort:
    """Create a cohort and put its calendar into Beat. A rehearsal (speed > 1) starts playing now."""
    cohort = Cohort(
        program=program,
        name=name,
        start_date=start_date,
        timezone=timezone,
        anchors=dict(anchors or {}),
        speed=speed,
    )
    cohort.arm_rehearsal(now or _now())
    cohort.full_clean()
    require_anchors(cohort)
    cohort.save()
    cohort_calendar_sync(cohort=cohort)
    return cohort


def require_anchors(cohort: Cohort) -> None:
    missing = [name for name in cohort.program.anchors if name not in (cohort.anchors or {})]
    if missing:
        raise ValidationError(
            {
                "anchors": f"program '{cohort.program.slug}' needs the anchor date(s) "
                f"{', '.join(missing)} (e.g. {missing[0]}=YYYY-MM-DD)"
            }
        )


@transaction.atomic
def cohort_update(*, cohort: Cohort, **changes: object) -> Cohort:
    """Edit start, timezone, anchors, program, name or speed; only the events that move are re-synced."""
    allowed = {"name", "start_date", "timezone", "anchors", "program", "speed"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} with cohort_update")
    for name, value in changes.items():
        setattr(cohort, name, value)
    cohort.arm_rehearsal(_now())
    cohort.full_clean()
    require_anchors(cohort)
    cohort.save()
    cohort_calendar_sync(cohort=cohort)
    return cohort


@transaction.atomic
def cohort_pause(*, cohort: Cohort) -> Cohort:
    """Stop the cohort's calendar: every Beat entry disabled, nothing fires until resumed."""
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if cohort.status == Cohort.Status.FINISHED:
        raise ValidationError({"status": "A finished cohort cannot be paused."})
    cohort.status = Cohort.Status.PAUSED
    cohort.save(update_fields=["status"])
    cohort_calendar_sync(cohort=cohort)
    return cohort


@transaction.atomic
def cohort_resume(*, cohort: Cohort, now: datetime | None = None) -> Cohort:
    """Resume: entries still in the future are enabled again; those that fell due while paused are
    carried out by the reconciler on its next run."""
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if cohort.status != Cohort.Status.PAUSED:
        raise ValidationError(
            {"status": f"Only a paused cohort can be resumed (this one is {cohort.status})."}
        )
    started = cohort.events.filter(done_at__isnull=False).exists()
    cohort.status = Cohort.Status.RUNNING if started else Cohort.Status.SCHEDULED
    cohort.save(update_fields=["status"])
    cohort_calendar_sync(cohort=cohort, now=now)
    return cohort


@transaction.atomic
def cohort_delete(*, cohort: Cohort) -> None:
    """Delete the cohort and every Beat entry of its calendar."""
    entries.delete(prefix=beat_entry_prefix(cohort.pk))
    cohort.delete()


# --- the calendar <-> Beat ------------------------------------------------------------------------


@dataclass
class SyncReport:
    events: int
    created: int
    moved: int
    deleted: int
    beat: entries.SyncResult


@transaction.atomic
def cohort_calendar_sync(*, cohort: Cohort, now: datetime | None = None) -> SyncReport:
    """Recompute the cohort's calendar, store what moved, and mirror it into Beat entries."""
    now = now or _now()
    cohort = Cohort.objects.select_for_update(of=("self",)).select_related("program").get(pk=cohort.pk)
    planned = calendar.plan(cohort)
    existing = {e.key: e for e in cohort.events.all()}
    overrides = {k: e.override_at for k, e in existing.items() if e.override_at}
    calendar.validate(cohort, planned, overrides)
    created = moved = 0
    keep = set()
    to_create = []
    for p in planned:
        keep.add(p.key)
        event = existing.get(p.key)
        if event is None:
            event = CohortEvent(
                cohort=cohort,
                key=p.key,
                kind=p.kind,
                subject=p.subject,
                enrollment_id=p.enrollment_id,
                scheduled_at=p.at,
            )
            event.fire_at = cohort.to_real(event.at)
            to_create.append(event)
            created += 1
            continue
        if event.done_at is not None:
            continue  # history: a done event keeps the time it happened at
        fire_at = cohort.to_real(event.override_at or p.at)
        if event.scheduled_at != p.at or event.fire_at != fire_at:
            event.scheduled_at, event.fire_at = p.at, fire_at
            event.save(update_fields=["scheduled_at", "fire_at"])
            moved += 1
    CohortEvent.objects.bulk_create(to_create, batch_size=500)
    stale = [e.pk for k, e in existing.items() if k not in keep]
    if stale:
        CohortEvent.objects.filter(pk__in=stale).delete()
    if cohort.status == Cohort.Status.FINISHED and cohort.events.filter(done_at__isnull=True).exists():
        cohort.status = Cohort.Status.RUNNING  # e.g. an extension granted after the last event
        cohort.save(update_fields=["status"])
    beat = entries.sync(prefix=beat_entry_prefix(cohort.pk), records=_records(cohort, now=now))
    return SyncReport(events=len(planned), created=created, moved=moved, deleted=len(stale), beat=beat)


def _records(cohort: Cohort, *, now: datetime) -> list[entries.EventRecord]:
    records = []
    for event in cohort.events.all():
        # Paused: nothing fires. Done: nothing left to do. An event already past (a resume, a cohort
        # created late, an edit) is left to the reconciler, which carries such events out in due order.
        enabled = (
            cohort.is_active
            and event.done_at is None
            and event.fire_at > now - timedelta(seconds=settings.NEXUS_REARM_WINDOW)
        )
        records.append(
            entries.EventRecord(
                name=beat_entry_name(cohort.pk, event.key),
                task=FIRE_TASK,
                kwargs={"cohort_id": cohort.pk, "event": event.key},
                instant=event.fire_at,
                enabled=enabled,
                queue="calendar",
                description=f"{cohort.name}: {event.get_kind_display()} {event.subject}",
            )
        )
    return records


@transaction.atomic
def cohort_event_move(*, event: CohortEvent, at: datetime | None) -> CohortEvent:
    """Move one event for this cohort only (None: back to the template's time)."""
    Cohort.objects.select_for_update().get(pk=event.cohort_id)  # the writers' lock order: cohort first
    event = CohortEvent.objects.select_for_update().get(pk=event.pk)
    if event.done_at is not None:
        raise ValidationError(
            {"override_at": f"{event.key} already happened on {event.done_at:%Y-%m-%d %H:%M} UTC"}
        )
    event.override_at = at
    event.save(update_fields=["override_at"])
    cohort_calendar_sync(cohort=event.cohort)
    return event


# --- learners and extensions --------------------------------------------------------------------


@transaction.atomic
def enrollment_create(
    *,
    cohort: Cohort,
    email: str,
    timezone: str = "",
    github_login: str = "",
    group: str = "",
) -> Enrollment:
    """Enrol a learner (creating the user account by email if needed)."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=email.lower(), defaults={"email": email.lower()})
    enrollment = Enrollment(
        cohort=cohort,
        user=user,
        email=email.lower(),
        timezone=timezone,
        github_login=github_login,
        group=group,
    )
    enrollment.full_clean()
    enrollment.save()
    return enrollment


@transaction.atomic
def extension_grant(
    *,
    cohort: Cohort,
    project: Project,
    due_at: datetime,
    cutoff_at: datetime,
    reason: str,
    enrollment: Enrollment | None = None,
    group: str = "",
    granted_by: object | None = None,
) -> Extension:
    """Give a learner or a group a later due and cut-off; their reminders and window move with it."""
    extension = Extension(
        cohort=cohort,
        project=project,
        enrollment=enrollment,
        group=group,
        due_at=due_at,
        cutoff_at=cutoff_at,
        reason=reason,
        granted_by=granted_by,
    )
    extension.full_clean()
    window = calendar.template_window(cohort, project)
    if cutoff_at < window.cutoff:
        raise ValidationError(
            {
                "cutoff_at": f"The extended cut-off is before the cohort's ({window.cutoff:%Y-%m-%d %H:%M} UTC)."
            }
        )
    extension.save()
    cohort_calendar_sync(cohort=cohort)
    return extension


# --- carrying out events ------------------------------------------------------------------------


@dataclass(frozen=True)
class FireOutcome:
    status: str  # done | already | early | inactive | missing | failed
    key: str


@transaction.atomic
def calendar_event_fire(*, cohort_id: int, key: str, now: datetime | None = None) -> FireOutcome:
    """Carry out one calendar event exactly once, however often it is called."""
    now = now or _now()
    # Cohort first, then the event: the order every writer takes (sync, pause, move), so a pause
    # committed meanwhile is seen here and two writers never deadlock.
    cohort = (
        Cohort.objects.select_for_update(of=("self",)).select_related("program").filter(pk=cohort_id).first()
    )
    event = cohort and CohortEvent.objects.select_for_update().filter(cohort=cohort, key=key).first()
    if cohort is None or event is None:
        return FireOutcome("missing", key)  # the cohort or event was deleted after Beat sent it
    if event.done_at is not None:
        return FireOutcome("already", key)
    if not cohort.is_active:
        return FireOutcome("inactive", key)
    if event.fire_at > now + EARLY_TOLERANCE:
        return FireOutcome("early", key)  # a stale Beat entry from before the event moved later
    try:
        _EFFECTS[event.kind](cohort, event)
    except (Unit.DoesNotExist, Project.DoesNotExist):
        # The program lost the unit or project since the calendar was synced; the next sync drops
        # the event. Nothing is recorded, so nothing is lost if it comes back.
        logger.warning(
            "calendar event %s of cohort %s names a unit/project the program no longer has", key, cohort.pk
        )
        return FireOutcome("missing", key)
    event.done_at = now
    event.save(update_fields=["done_at"])
    if cohort.status == Cohort.Status.SCHEDULED:
        cohort.status = Cohort.Status.RUNNING
    if not cohort.events.filter(done_at__isnull=True).exists():
        cohort.status = Cohort.Status.FINISHED
    cohort.save(update_fields=["status"])
    logger.info("calendar event done: cohort %s %s", cohort.pk, key)
    return FireOutcome("done", key)


def calendar_reconcile(*, now: datetime | None = None, limit: int = 1000) -> list[FireOutcome]:
    """The safety net: carry out, in due order, every event that is due but not done."""
    now = now or _now()
    due = list(
        CohortEvent.objects.filter(
            done_at__isnull=True,
            fire_at__lte=now,
            cohort__status__in=[Cohort.Status.SCHEDULED, Cohort.Status.RUNNING],
        )
        .order_by("fire_at", "pk")
        .values_list("cohort_id", "key")[:limit]
    )
    outcomes = []
    for cohort_id, key in due:
        try:
            outcomes.append(calendar_event_fire(cohort_id=cohort_id, key=key, now=now))
        except Exception:
            # One broken event must not hold back every event due after it, in every cohort.
            logger.exception("reconciler could not carry out %s of cohort %s; going on", key, cohort_id)
            outcomes.append(FireOutcome("failed", key))
    if outcomes:
        logger.info("reconciler carried out %d due event(s)", sum(o.status == "done" for o in outcomes))
    return outcomes


# --- effects (each keyed by a unique row, so a repeat is a no-op) --------------------------------


def _learners(cohort: Cohort, event: CohortEvent, project: Project | None = None) -> list[int]:
    """Who an event speaks to: its own learner, or everyone without an extension for the project."""
    if event.enrollment_id:
        return [event.enrollment_id]
    ids = set(cohort.enrollments.values_list("pk", flat=True))
    if project is not None:
        ids -= set(
            cohort.events.filter(subject=project.key, enrollment__isnull=False).values_list(
                "enrollment_id", flat=True
            )
        )
    return sorted(ids)


def _unsubmitted(ids: list[int], project: Project) -> list[int]:
    from submissions.models import Submission

    done = set(
        Submission.objects.filter(project=project, enrollment_id__in=ids).values_list(
            "enrollment_id", flat=True
        )
    )
    return [i for i in ids if i not in done]


def _unlock(cohort: Cohort, event: CohortEvent) -> None:
    unit = cohort.program.units.get(key=event.subject)
    Release.objects.get_or_create(cohort=cohort, unit=unit, defaults={"released_at": event.at})
    outbox_write(
        kind=Notification.Kind.UNIT_UNLOCKED,
        enrollment_ids=_learners(cohort, event),
        subject=unit.key,
        effective_at=event.at,
        payload={"cohort": cohort.name, "title": unit.title},
    )


def _window(kind: str, notification: str, only_unsubmitted: bool):
    def effect(cohort: Cohort, event: CohortEvent) -> None:
        from submissions.services import transition_record

        project = cohort.program.projects.get(key=event.subject)
        if kind != "remind":
            transition_record(
                cohort=cohort, project=project, kind=kind, enrollment_id=event.enrollment_id, at=event.at
            )
        ids = _learners(cohort, event, project if kind != "open" else None)
        if only_unsubmitted:
            ids = _unsubmitted(ids, project)
        subject = event.key.split("@")[0].split(":", 1)[1]  # e.g. airbnb-db:1d for a reminder
        outbox_write(
            kind=notification,
            enrollment_ids=ids,
            subject=subject,
            effective_at=event.at,
            payload={"cohort": cohort.name, "title": project.title},
        )

    return effect


_EFFECTS = {
    CohortEvent.Kind.UNLOCK: _unlock,
    CohortEvent.Kind.OPEN: _window("open", Notification.Kind.WINDOW_OPENED, only_unsubmitted=False),
    CohortEvent.Kind.REMIND: _window("remind", Notification.Kind.REMINDER, only_unsubmitted=True),
    CohortEvent.Kind.DUE: _window("due", Notification.Kind.DUE_PASSED, only_unsubmitted=True),
    CohortEvent.Kind.CLOSE: _window("close", Notification.Kind.WINDOW_CLOSED, only_unsubmitted=False),
}


def program_cohorts_resync(*, program: Program) -> int:
    """Re-sync the calendar of every cohort not finished of a program that changed."""
    cohorts = list(program.cohorts.exclude(status=Cohort.Status.FINISHED))
    for cohort in cohorts:
        cohort_calendar_sync(cohort=cohort)
    return len(cohorts)
