"""Cohort writes: lifecycle (create, edit, pause, resume, delete), learners, extensions, moved events and
program edits; every one that changes a date re-syncs the calendar into Beat in the same transaction."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from cohorts import calendar
from cohorts.changes import dates_snapshot
from cohorts.keys import EventKey
from cohorts.models import Cohort, CohortEvent, Enrollment, Extension, beat_entry_prefix
from cohorts.signals import extension_granted
from cohorts.sync import cohort_calendar_sync, lock
from core import clock
from core.http import UnsafeURL, check_public_url
from programs.models import Program, Project, Unit
from programs.services import LoadResult, program_load
from schedules import entries

Kind = CohortEvent.Kind

# --- cohorts ------------------------------------------------------------------------------------

COHORT_FIELDS = ("name", "start_date", "timezone", "anchors", "program", "speed", "chat_webhook_url")


def chat_webhook_url_check(url: str) -> None:
    """Refuse, with the reason, a chat webhook URL we would not post to: https only in production, and no
    private, loopback or link-local address, after DNS resolution (core.http.check_public_url).

    Run when a URL is saved (a new or changed one), not as a model validator: full_clean runs on every
    save, and a DNS lookup there would slow every unrelated edit and refuse it while DNS is down. The
    channel checks again right before each post, so a URL that became unsafe since is never called.
    """
    if not url:
        return
    try:
        check_public_url(url)
    except UnsafeURL as exc:
        raise ValidationError(str(exc), code="unsafe_url") from exc


def _check_chat_webhook_url(url: str) -> None:
    try:
        chat_webhook_url_check(url)
    except ValidationError as exc:
        raise ValidationError({"chat_webhook_url": exc.messages}) from exc


def _check_new_chat_webhook_url(model: type[Cohort | Enrollment], pk: int, url: str) -> None:
    """Check a URL unless it is the one stored (compared with the row, not the caller's instance, which an
    admin form has already changed). Called before the row is locked: the check may wait on DNS."""
    stored = model.objects.filter(pk=pk).values_list("chat_webhook_url", flat=True).first()
    if url != stored:
        _check_chat_webhook_url(url)


@transaction.atomic
def cohort_create(
    *,
    program: Program,
    name: str,
    start_date: date,
    timezone: str,
    anchors: dict[str, str] | None = None,
    speed: float = 1.0,
    chat_webhook_url: str = "",
    now: datetime | None = None,
) -> Cohort:
    """Create a cohort and put its calendar into Beat. A rehearsal (speed > 1) starts playing now."""
    now = now or clock.now()
    if Cohort.objects.filter(name=name).exists():
        raise ValidationError({"name": f"a cohort named '{name}' already exists; choose another name"})
    chat_webhook_url = (chat_webhook_url or "").strip()
    _check_chat_webhook_url(chat_webhook_url)
    cohort = Cohort(
        program=program,
        name=name,
        start_date=start_date,
        timezone=timezone,
        anchors=dict(anchors or {}),
        speed=speed,
        chat_webhook_url=chat_webhook_url,
    )
    cohort.arm_rehearsal(now)
    cohort.full_clean()
    require_anchors(cohort)
    cohort.save()
    cohort_calendar_sync(cohort=cohort, now=now, announce=False)  # no learner yet to tell
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
def cohort_update(*, cohort: Cohort, now: datetime | None = None, **changes: Any) -> Cohort:
    """Edit name, start, zone, anchors, program, speed or chat webhook of a cohort.

    The row is locked and only the fields that change are written, so a pause (or any other write)
    committed meanwhile is kept. Then the calendar is re-synced:
    - a new zone keeps the local wall-clock time of every event staff moved by hand and of every
      extension (they were typed in the cohort's zone);
    - a new program: the former program's done events stay as history, its pending ones are dropped,
      and the new program's events already due are carried out in due order, as after a downtime
      (by the reconciler, or at once by the first event Beat fires).
    """
    unknown = set(changes) - set(COHORT_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} with cohort_update")
    now = now or clock.now()
    if "chat_webhook_url" in changes:
        changes["chat_webhook_url"] = (changes["chat_webhook_url"] or "").strip()
        _check_new_chat_webhook_url(Cohort, cohort.pk, changes["chat_webhook_url"])
    current = lock(cohort)
    changed = {name: value for name, value in changes.items() if getattr(current, name) != value}
    if not changed:
        return current
    before = Cohort(**{f.attname: getattr(current, f.attname) for f in Cohort._meta.concrete_fields})
    dates_before = dates_snapshot(current)  # before the zone change moves staff's overrides
    for name, value in changed.items():
        setattr(current, name, value)
    fields = list(changed)
    if "speed" in changed:
        fields += _retime_rehearsal(before, current, now)
    current.full_clean()
    require_anchors(current)
    current.save(update_fields=fields)
    if "timezone" in changed:
        _keep_wall_times(current, before.zone)
    cohort_calendar_sync(cohort=current, now=now, before=dates_before)
    cohort.refresh_from_db()  # the caller's instance shows what was written
    return current


def _retime_rehearsal(before: Cohort, cohort: Cohort, now: datetime) -> list[str]:
    """A new speed keeps the calendar where it is now and plays on from there at the new pace."""
    if cohort.speed == 1:
        return []
    if before.rehearsal_epoch is None:
        cohort.arm_rehearsal(now)
    else:
        at = before.calendar_now(now)
        cohort.rehearsal_epoch = now - (at - cohort.origin()) / cohort.speed
    return ["rehearsal_epoch"]


def _keep_wall_times(cohort: Cohort, old_zone: Any) -> None:
    new_zone = cohort.zone
    moved = cohort.events.filter(
        program_id=cohort.program_id, done_at__isnull=True, override_at__isnull=False
    )
    for event in moved:
        event.override_at = calendar.same_wall_time(event.override_at, old_zone, new_zone)
        event.save(update_fields=["override_at"])
    for extension in cohort.extensions.all():
        extension.due_at = calendar.same_wall_time(extension.due_at, old_zone, new_zone)
        extension.cutoff_at = calendar.same_wall_time(extension.cutoff_at, old_zone, new_zone)
        extension.save(update_fields=["due_at", "cutoff_at"])


@transaction.atomic
def cohort_pause(*, cohort: Cohort) -> Cohort:
    """Stop the cohort's calendar: every Beat entry disabled, nothing fires until resumed."""
    cohort = lock(cohort)
    if cohort.status == Cohort.Status.FINISHED:
        raise ValidationError({"status": "A finished cohort cannot be paused."})
    cohort.status = Cohort.Status.PAUSED
    cohort.save(update_fields=["status"])
    cohort_calendar_sync(cohort=cohort)
    return cohort


@transaction.atomic
def cohort_resume(*, cohort: Cohort, now: datetime | None = None) -> Cohort:
    """Resume: entries still in the future are enabled again; those that fell due while paused are
    carried out in due order (by the reconciler, or first by the next event that fires)."""
    cohort = lock(cohort)
    if cohort.status != Cohort.Status.PAUSED:
        raise ValidationError(
            {"status": f"Only a paused cohort can be resumed (this one is {cohort.status})."}
        )
    started = cohort.events.filter(outcome=CohortEvent.Outcome.DONE).exists()
    cohort.status = Cohort.Status.RUNNING if started else Cohort.Status.SCHEDULED
    cohort.save(update_fields=["status"])
    cohort_calendar_sync(cohort=cohort, now=now)
    return cohort


@transaction.atomic
def cohort_delete(*, cohort: Cohort) -> None:
    """Delete the cohort and every Beat entry of its calendar."""
    lock(cohort)  # no event of it runs while it goes
    entries.delete(prefix=beat_entry_prefix(cohort.pk))
    cohort.delete()


@transaction.atomic
def cohort_event_move(*, event: CohortEvent, at: datetime | None) -> CohortEvent:
    """Move one event for this cohort only (None: back to the template's time)."""
    lock(event.cohort_id)  # the writers' lock order: cohort first
    event = CohortEvent.objects.select_for_update().get(pk=event.pk)
    before = dates_snapshot(event.cohort)
    if event.done_at is not None:
        raise ValidationError(
            {"override_at": f"{event.key} already happened on {event.done_at:%Y-%m-%d %H:%M} UTC"}
        )
    event.override_at = at
    event.retry_at = None  # a failed event moved by staff is tried at its new time, not after a backoff
    event.save(update_fields=["override_at", "retry_at"])
    cohort_calendar_sync(cohort=event.cohort, before=before)
    return event


# --- learners and extensions --------------------------------------------------------------------


def _already_enrolled(cohort: Cohort, email: str) -> ValidationError:
    return ValidationError({"email": f"{email} is already enrolled in {cohort}."})


@transaction.atomic
def enrollment_create(
    *,
    cohort: Cohort,
    email: str,
    timezone: str = "",
    github_login: str = "",
    group: str = "",
    name: str = "",
    chat_webhook_url: str = "",
    resync: bool = True,
) -> Enrollment:
    """Enrol a learner (creating the user account by email if needed); a learner who joins a group
    with an extension gets its dates at once (resync=False: the caller re-syncs once for many)."""
    email = (email or "").strip().lower()
    if not email:
        raise ValidationError({"email": "Give the learner's email address."})
    try:  # the address first: an account is never created for text that is not one
        Enrollment._meta.get_field("email").run_validators(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.messages}) from exc
    chat_webhook_url = (chat_webhook_url or "").strip()
    _check_chat_webhook_url(chat_webhook_url)
    if resync:
        lock(cohort)  # the writers' lock order: the cohort row before its rows (the re-sync locks it)
    if cohort.enrollments.filter(email=email).exists():
        raise _already_enrolled(cohort, email)
    user_model = get_user_model()
    first, _, last = (name or "").strip().partition(" ")
    user, created = user_model.objects.get_or_create(
        username=email, defaults={"email": email, "first_name": first[:150], "last_name": last[:150]}
    )
    if not created and cohort.enrollments.filter(user=user).exists():
        raise _already_enrolled(cohort, email)
    enrollment = Enrollment(
        cohort=cohort,
        user=user,
        email=email,
        timezone=timezone.strip(),
        github_login=github_login.strip(),
        group=group.strip(),
        chat_webhook_url=chat_webhook_url,
    )
    enrollment.full_clean()
    enrollment.save()
    if resync and enrollment.group and cohort.extensions.filter(group=enrollment.group).exists():
        cohort_calendar_sync(cohort=cohort, announce=False)  # only the newcomer's dates change
    return enrollment


ENROLLMENT_FIELDS = ("email", "timezone", "github_login", "group", "chat_webhook_url")


@transaction.atomic
def enrollment_update(*, enrollment: Enrollment, **changes: Any) -> Enrollment:
    """Edit a learner's email, zone, GitHub login, group or chat webhook; a new group re-syncs the
    calendar (group extensions follow the learner). The learner's zone changes no calendar instant: it
    is how times are shown and when messages are sent to them."""
    unknown = set(changes) - set(ENROLLMENT_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} with enrollment_update")
    if "email" in changes:
        changes["email"] = (changes["email"] or "").strip().lower()
    if "chat_webhook_url" in changes:
        changes["chat_webhook_url"] = (changes["chat_webhook_url"] or "").strip()
        _check_new_chat_webhook_url(Enrollment, enrollment.pk, changes["chat_webhook_url"])
    lock(enrollment.cohort_id)
    current = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    changed = {name: value for name, value in changes.items() if getattr(current, name) != value}
    if not changed:
        return current
    if "email" in changed and current.cohort.enrollments.filter(email=changed["email"]).exists():
        raise _already_enrolled(current.cohort, changed["email"])
    for name, value in changed.items():
        setattr(current, name, value)
    current.full_clean()
    current.save(update_fields=list(changed))
    if "group" in changed:
        cohort_calendar_sync(cohort=current.cohort)
    return current


IMPORT_MAX_ROWS = 5000
IMPORT_MAX_BYTES = 1024 * 1024
IMPORT_COLUMNS = ("email", "name", "timezone", "github_login", "group")
_HEADER_WORDS = {"email", "e-mail", "mail"}


@dataclass
class ImportRow:
    """One line of a pasted learner list, with what is wrong with it (empty: it can be enrolled)."""

    line: int
    email: str = ""
    name: str = ""
    timezone: str = ""
    github_login: str = ""
    group: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in IMPORT_COLUMNS}


@dataclass
class ImportResult:
    enrolled: list[Enrollment]
    refused: list[ImportRow]


def enrollment_rows_parse(*, cohort: Cohort, text: str) -> list[ImportRow]:
    """CSV text (email, name, zone, GitHub login, group; header optional) as rows, each checked:
    bad email, unknown zone, bad login, a duplicate in the file, already enrolled. Too much text is a
    ValidationError on "csv" before anything is read."""
    if len(text.encode("utf-8", errors="replace")) > IMPORT_MAX_BYTES:
        raise ValidationError({"csv": f"The list is over {IMPORT_MAX_BYTES // 1024} KiB; split it."})
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ValidationError({"csv": f"This is not CSV text: {exc}."}) from exc
    numbered = [(number, cells) for number, cells in enumerate(lines, 1) if any(c.strip() for c in cells)]
    if numbered and numbered[0][1][0].strip().lower() in _HEADER_WORDS:
        numbered = numbered[1:]
    if len(numbered) > IMPORT_MAX_ROWS:
        raise ValidationError(
            {"csv": f"The list has {len(numbered)} rows; at most {IMPORT_MAX_ROWS} at once."}
        )
    if not numbered:
        raise ValidationError({"csv": "The list is empty: one learner per line, email first."})
    rows = []
    for number, cells in numbered:
        cells = [c.strip() for c in cells]
        row = ImportRow(line=number, **dict(zip(IMPORT_COLUMNS, cells, strict=False)))
        if len(cells) > len(IMPORT_COLUMNS):
            row.errors["line"] = f"{len(cells)} columns; expected at most {len(IMPORT_COLUMNS)}"
        rows.append(row)
    enrolled = set(cohort.enrollments.values_list("email", flat=True))
    enrollment_rows_check(rows=rows, enrolled=enrolled)
    return rows


def enrollment_rows_check(*, rows: list[ImportRow], enrolled: set[str]) -> None:
    """Fill each row's errors (field -> message); the first row of an address wins, later ones are
    duplicates."""
    seen: dict[str, int] = {}
    for row in rows:
        row.email = row.email.lower()
        candidate = Enrollment(
            email=row.email, timezone=row.timezone, github_login=row.github_login, group=row.group
        )
        for name in ("email", "timezone", "github_login", "group"):
            try:
                value = getattr(candidate, name)
                if name == "email" and not value:
                    raise ValidationError("Give the learner's email address.")
                candidate._meta.get_field(name).clean(value, candidate)
            except ValidationError as exc:
                row.errors.setdefault(name, " ".join(exc.messages))
        if "email" in row.errors:
            continue
        if row.email in enrolled:
            row.errors["email"] = "already enrolled in this cohort"
        elif row.email in seen:
            row.errors["email"] = f"duplicate of line {seen[row.email]}"
        else:
            seen[row.email] = row.line


@transaction.atomic
def enrollments_import(*, cohort: Cohort, rows: list[ImportRow]) -> ImportResult:
    """Enrol every valid row in one transaction (rows are checked again: the list may have been
    previewed a while ago), then re-sync the calendar once: group extensions reach the newcomers."""
    cohort = lock(cohort)
    rows = [ImportRow(line=row.line, **row.values()) for row in rows]
    enrollment_rows_check(rows=rows, enrolled=set(cohort.enrollments.values_list("email", flat=True)))
    enrolled = []
    for row in rows:
        if row.ok:
            enrolled.append(enrollment_create(cohort=cohort, **row.values(), resync=False))
    if enrolled:
        cohort_calendar_sync(cohort=cohort, announce=False)  # only the newcomers' dates change
    return ImportResult(enrolled=enrolled, refused=[row for row in rows if not row.ok])


def extension_validate(extension: Extension) -> None:
    """An extension must be at least as lenient as the cohort's effective window (staff moves
    included): otherwise it would change nothing, or silently shorten a learner's window."""
    extension.full_clean()
    cohort = extension.cohort
    window = calendar.cohort_window(cohort, extension.project, calendar.overrides_of(cohort))
    if extension.due_at < window.due:
        raise ValidationError(
            {
                "due_at": f"The extended due is before the cohort's ({calendar.local_text(cohort, window.due)})."
            }
        )
    if extension.cutoff_at < window.cutoff:
        raise ValidationError(
            {
                "cutoff_at": "The extended cut-off is before the cohort's "
                f"({calendar.local_text(cohort, window.cutoff)})."
            }
        )


def extension_find(
    *, cohort: Cohort, project: Project, enrollment: Enrollment | None = None, group: str = ""
) -> Extension | None:
    """The extension already granted to this learner (or group) for this project, if any."""
    found = Extension.objects.filter(cohort=cohort, project=project)
    found = found.filter(enrollment=enrollment) if enrollment is not None else found.filter(group=group)
    return found.order_by("created_at", "pk").first()


def learner_current_window(*, enrollment: Enrollment, project: Project) -> calendar.Window:
    """The window the calendar gives this learner now: their own (extended) due and close events as
    stored (staff may have moved those), else the cohort's effective window."""
    cohort = enrollment.cohort
    base = calendar.cohort_window(cohort, project, calendar.overrides_of(cohort))
    own = {kind: str(EventKey(kind, project.key, None, enrollment.pk)) for kind in (Kind.DUE, Kind.CLOSE)}
    at = {
        e.key: e.at
        for e in CohortEvent.objects.filter(cohort=cohort, program_id=cohort.program_id, key__in=own.values())
    }
    return calendar.Window(
        opens=base.opens,
        due=at.get(own[Kind.DUE], base.due),
        cutoff=at.get(own[Kind.CLOSE], base.cutoff),
        grace=base.grace,
    )


def extension_check_later(extension: Extension) -> None:
    """A grant must give every learner it applies to (the learner, or each member of the group) a later
    due or a later cut-off than their current window (their extensions included): one that changes
    nothing for someone is refused, naming them and what they already have."""
    cohort = extension.cohort
    if extension.enrollment_id:
        members = [extension.enrollment]
    else:
        members = list(cohort.enrollments.filter(group=extension.group).order_by("email"))
    covered = []
    for member in members:
        current = learner_current_window(enrollment=member, project=extension.project)
        if extension.due_at <= current.due and extension.cutoff_at <= current.cutoff:
            covered.append((member, current))
    if not covered:
        return
    who = "; ".join(
        f"{m.email} already has due {calendar.local_text(cohort, w.due)}, "
        f"cut-off {calendar.local_text(cohort, w.cutoff)}"
        for m, w in covered[:5]
    )
    more = f" (and {len(covered) - 5} more)" if len(covered) > 5 else ""
    message = f"Not later than the current window: {who}{more}. Give a later due or cut-off."
    raise ValidationError({"due_at": message, "cutoff_at": message})


def extension_check_not_past(extension: Extension, *, now: datetime | None = None) -> None:
    """A due or cut-off already past (in the cohort's calendar time) is refused: carrying it out at once
    must be asked for explicitly."""
    cohort = extension.cohort
    calendar_now = cohort.calendar_now(now or clock.now())
    errors = {
        name: f"{calendar.local_text(cohort, getattr(extension, name))} is already past; "
        'tick "carry it out now" to grant it anyway.'
        for name in ("due_at", "cutoff_at")
        if getattr(extension, name) is not None and getattr(extension, name) <= calendar_now
    }
    if errors:
        raise ValidationError(errors)


def extension_grant_check(extension: Extension, *, carry_out_now: bool = False) -> Extension | None:
    """Everything extension_grant refuses, without writing. Returns the extension a grant would edit
    (one already given to the same learner or group for the same project), if any."""
    extension_validate(extension)
    existing = extension_find(
        cohort=extension.cohort,
        project=extension.project,
        enrollment=extension.enrollment,
        group=extension.group,
    )
    if not carry_out_now:
        extension_check_not_past(extension)
    extension_check_later(extension)
    return existing


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
    carry_out_now: bool = False,
) -> Extension:
    """Give a learner or a group a later due and cut-off; their reminders and window move with it.

    A second grant for the same learner (or group) and project edits the first instead of piling up.
    It must give each learner it applies to something later than their current window; a time already
    past is refused unless carry_out_now (the calendar then carries it out at once, in due order).
    """
    cohort = lock(cohort)
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
    existing = extension_grant_check(extension, carry_out_now=carry_out_now)
    if existing is not None:
        existing = Extension.objects.select_for_update().get(pk=existing.pk)
        existing.due_at, existing.cutoff_at, existing.reason = due_at, cutoff_at, reason
        existing.granted_by = granted_by or existing.granted_by
        existing.save(update_fields=["due_at", "cutoff_at", "reason", "granted_by"])
        extension = existing
    else:
        extension.save()
    # The learners hear of the grant itself (at once), not of a debounced "date changed".
    cohort_calendar_sync(cohort=cohort, announce=False)
    if extension.enrollment_id:
        ids = [extension.enrollment_id]
    else:
        ids = list(
            cohort.enrollments.filter(group=extension.group).order_by("pk").values_list("pk", flat=True)
        )
    extension_granted.send(sender=Cohort, cohort=cohort, extension=extension, enrollment_ids=ids)
    return extension


EXTENSION_FIELDS = ("cohort", "project", "enrollment", "group", "due_at", "cutoff_at", "reason")


@transaction.atomic
def extension_update(*, extension: Extension, **changes: Any) -> Extension:
    """Change an extension; the calendars of its cohort (and of its former cohort) follow."""
    unknown = set(changes) - set(EXTENSION_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} with extension_update")
    former = Extension.objects.values_list("cohort_id", flat=True).get(pk=extension.pk)
    target = changes["cohort"].pk if "cohort" in changes else former
    for cohort_id in sorted({former, target}):
        lock(cohort_id)  # the writers' lock order: cohorts first
    current = Extension.objects.select_for_update().get(pk=extension.pk)
    for name, value in changes.items():
        setattr(current, name, value)
    extension_validate(current)
    current.save()
    for cohort_id in sorted({former, target}):
        cohort_calendar_sync(cohort=Cohort.objects.get(pk=cohort_id))
    return current


@transaction.atomic
def extension_revoke(*, extension: Extension) -> None:
    """Take an extension back: the learner's events return to the cohort's (done ones stay history)."""
    cohort = lock(extension.cohort_id)
    extension.delete()
    cohort_calendar_sync(cohort=cohort)


# --- program edits reaching every cohort ----------------------------------------------------------


@dataclass(frozen=True)
class ResyncSummary:
    """What re-syncing a program's cohorts did: how many calendars, and how many of their events moved,
    were added (a new unit, project or reminder) or were removed."""

    cohorts: int = 0
    moved: int = 0
    created: int = 0
    deleted: int = 0

    def __add__(self, other: ResyncSummary) -> ResyncSummary:
        return ResyncSummary(
            cohorts=self.cohorts + other.cohorts,
            moved=self.moved + other.moved,
            created=self.created + other.created,
            deleted=self.deleted + other.deleted,
        )

    def __str__(self) -> str:
        return (
            f"{self.cohorts} cohort calendar(s) re-synced with Beat: {self.moved} event(s) moved, "
            f"{self.created} added, {self.deleted} removed"
        )


@transaction.atomic
def program_cohorts_resync(*, program: Program) -> ResyncSummary:
    """Re-sync the calendar of every cohort not finished of a program that changed; a calendar that
    refuses the change (an event before its start, a window closing before it opens) refuses it all,
    naming the cohort."""
    summary = ResyncSummary()
    for cohort in program.cohorts.exclude(status=Cohort.Status.FINISHED).order_by("pk"):
        try:
            report = cohort_calendar_sync(cohort=cohort)
        except ValidationError as exc:
            raise ValidationError(_for_cohort(cohort, exc)) from exc
        summary += ResyncSummary(
            cohorts=1, moved=report.moved, created=report.created, deleted=report.deleted
        )
    return summary


def program_change_check(*, program: Program, apply: Callable[[], None]) -> None:
    """Try a program edit (apply writes it) against every cohort not finished, then undo it: raises a
    ValidationError naming the cohort whose calendar would refuse it (or that lacks a date for an
    anchor the program now declares). Runs inside a transaction."""
    with transaction.atomic():
        sid = transaction.savepoint()
        try:
            apply()
            for cohort in program.cohorts.exclude(status=Cohort.Status.FINISHED).order_by("pk"):
                try:
                    require_anchors(cohort)
                    calendar.check(cohort)
                except ValidationError as exc:
                    raise ValidationError(_for_cohort(cohort, exc)) from exc
        finally:
            transaction.savepoint_rollback(sid)


def _for_cohort(cohort: Cohort, exc: ValidationError) -> str:
    return f"cohort '{cohort.name}' would refuse this change: {'; '.join(exc.messages)}"


@transaction.atomic
def program_edit(*, program: Program, apply: Callable[[], None]) -> ResyncSummary:
    """Write a program edit (apply saves the program and its units and projects, as the admin's Program
    page does) and re-sync every cohort of the program in the same transaction."""
    apply()
    return program_cohorts_resync(program=program)


@transaction.atomic
def unit_save(*, unit: Unit) -> ResyncSummary:
    """Save a unit of a program (e.g. its unlock date) and re-sync every cohort of the program."""
    unit.full_clean()
    unit.save()
    return program_cohorts_resync(program=unit.program)


def _refuse_deleting_used(what: str, *, releases: int = 0, submissions: int = 0, extensions: int = 0) -> None:
    used = [
        f"{n} {name}"
        for name, n in (
            ("release(s)", releases),
            ("submission(s)", submissions),
            ("extension(s)", extensions),
        )
        if n
    ]
    if used:
        raise ValidationError(
            f"{what} cannot be deleted: cohorts have used it ({', '.join(used)}); keep it in the program"
        )


@transaction.atomic
def unit_delete(*, unit: Unit) -> ResyncSummary:
    """Delete an unused unit (and its projects) and re-sync every cohort of the program, so no cohort
    keeps events for it. A unit cohorts have released, or whose projects have submissions or
    extensions, is refused: deleting it would silently delete what learners did."""
    projects = unit.projects.all()
    _refuse_deleting_used(
        f"unit '{unit.key}'",
        releases=unit.releases.count(),
        submissions=sum(p.submissions.count() for p in projects),
        extensions=sum(p.extensions.count() for p in projects),
    )
    program = unit.program
    unit.delete()
    return program_cohorts_resync(program=program)


@transaction.atomic
def project_delete(*, project: Project) -> ResyncSummary:
    """Delete an unused project and re-sync every cohort of the program (see unit_delete)."""
    _refuse_deleting_used(
        f"project '{project.key}'",
        submissions=project.submissions.count(),
        extensions=project.extensions.count(),
    )
    program = project.program
    project.delete()
    return program_cohorts_resync(program=program)


@transaction.atomic
def project_save(*, project: Project) -> ResyncSummary:
    """Save a project (its window dates, grace, reminders) and re-sync every cohort of the program."""
    project.full_clean()
    project.save()
    return program_cohorts_resync(program=project.program)


@transaction.atomic
def program_file_apply(*, data: Any, source: str) -> tuple[LoadResult, ResyncSummary]:
    """Load a program file and re-sync every cohort of it, atomically: a program edit that a running
    cohort's calendar refuses is refused whole, instead of leaving the new program stored beside
    calendars that still show the old dates."""
    result = program_load(data=data, source=source)
    return result, program_cohorts_resync(program=result.program)
