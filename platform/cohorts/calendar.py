"""A cohort's calendar computed from its program: plain planned events in UTC, and their validation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError

from cohorts.models import Cohort, CohortEvent, Enrollment, Extension
from programs.models import Project
from programs.relative import RelativeDate, RelativeDateError, format_duration, parse_duration

Kind = CohortEvent.Kind


@dataclass(frozen=True)
class PlannedEvent:
    key: str
    kind: str
    subject: str
    at: datetime  # calendar instant, UTC
    enrollment_id: int | None = None


@dataclass(frozen=True)
class Window:
    """A project's window for one learner (or the cohort), in calendar UTC."""

    opens: datetime
    due: datetime
    cutoff: datetime
    grace: timedelta


def resolve(cohort: Cohort, text: str, *, field: str, what: str) -> datetime:
    try:
        return RelativeDate.parse(text).resolve(
            start=cohort.start_date, tz=cohort.zone, anchors=cohort.anchor_dates()
        )
    except RelativeDateError as exc:
        name = "anchors" if "anchor" in str(exc) else field
        raise ValidationError({name: f"{what}: {exc}"}) from exc


def template_window(cohort: Cohort, project: Project) -> Window:
    """A project's cohort-wide window from the template (before overrides and extensions)."""
    what = f"project '{project.key}'"
    return Window(
        opens=resolve(cohort, project.opens, field="start_date", what=what),
        due=resolve(cohort, project.due, field="start_date", what=what),
        cutoff=resolve(cohort, project.cutoff, field="start_date", what=what),
        grace=project.grace,
    )


def _extension_windows(
    extensions: list[Extension],
    enrollments: list[Enrollment],
    base: dict[str, Window],
    projects: dict[int, str],
) -> dict[tuple[str, int], Window]:
    """(project key, enrollment id) -> the most lenient extended window for that learner."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for enrollment in enrollments:
        if enrollment.group:
            by_group[enrollment.group].append(enrollment.pk)
    best: dict[tuple[str, int], Window] = {}
    for ext in extensions:
        pkey = projects[ext.project_id]
        window = base[pkey]
        targets = [ext.enrollment_id] if ext.enrollment_id else by_group.get(ext.group, [])
        for eid in targets:
            current = best.get((pkey, eid))
            due = max(ext.due_at, window.due, current.due if current else ext.due_at)
            cutoff = max(ext.cutoff_at, window.cutoff, current.cutoff if current else ext.cutoff_at)
            best[(pkey, eid)] = Window(opens=window.opens, due=due, cutoff=cutoff, grace=window.grace)
    return best


def plan(cohort: Cohort) -> list[PlannedEvent]:
    """Every event of the cohort's calendar, learner-specific ones for extensions included."""
    program = cohort.program
    events: list[PlannedEvent] = []
    for unit in program.units.all():
        at = resolve(cohort, unit.unlock, field="start_date", what=f"unit '{unit.key}'")
        events.append(PlannedEvent(f"unlock:{unit.key}", Kind.UNLOCK, unit.key, at))
    projects: list[Project] = list(program.projects.select_related("program"))
    base = {p.key: template_window(cohort, p) for p in projects}
    enrollments = list(cohort.enrollments.all()) if cohort.pk else []
    extensions = list(cohort.extensions.all()) if cohort.pk else []
    extended = _extension_windows(extensions, enrollments, base, {p.pk: p.key for p in projects})
    offsets_of = {p.key: p.reminder_offsets() for p in projects}
    for project in projects:
        window = base[project.key]
        events.append(PlannedEvent(f"open:{project.key}", Kind.OPEN, project.key, window.opens))
        events.extend(_window_events(project.key, window, offsets_of[project.key], None))
    for (pkey, eid), window in sorted(extended.items()):
        events.extend(_window_events(pkey, window, offsets_of[pkey], eid))
    return events


def _window_events(pkey: str, window: Window, offsets: list[str], eid: int | None) -> list[PlannedEvent]:
    suffix = f"@{eid}" if eid else ""
    out = []
    for offset in offsets:
        label = format_duration(parse_duration(offset))
        at = window.due - parse_duration(offset)
        if at >= window.opens:  # a reminder before the window opens would remind of nothing
            out.append(PlannedEvent(f"remind:{pkey}:{label}{suffix}", Kind.REMIND, pkey, at, eid))
    out.append(PlannedEvent(f"due:{pkey}{suffix}", Kind.DUE, pkey, window.due, eid))
    out.append(PlannedEvent(f"close:{pkey}{suffix}", Kind.CLOSE, pkey, window.cutoff, eid))
    return out


def validate(cohort: Cohort, events: list[PlannedEvent], overrides: dict[str, datetime]) -> None:
    """Refuse a calendar whose windows close before they open, are due after the cut-off, or that
    puts an event before the cohort starts; each message names the field to fix."""
    start = datetime.combine(cohort.start_date, time(0), tzinfo=cohort.zone)
    at = {e.key: overrides.get(e.key, e.at) for e in events}
    for event in events:
        when = at[event.key]
        if when < start:
            field = "override_at" if event.key in overrides else "start_date"
            local = when.astimezone(cohort.zone).strftime("%Y-%m-%d %H:%M %Z")
            raise ValidationError(
                {
                    field: f"{event.key} falls on {local}, before the cohort starts on "
                    f"{cohort.start_date.isoformat()}"
                }
            )
    for event in events:
        if event.kind != Kind.OPEN:
            continue
        pkey = event.subject
        opens, due, cutoff = at[event.key], at.get(f"due:{pkey}"), at.get(f"close:{pkey}")
        if due is None or cutoff is None:
            continue
        moved = {f"open:{pkey}", f"due:{pkey}", f"close:{pkey}"} & set(overrides)
        field = "override_at" if moved else "anchors"
        problems = (
            (cutoff < opens, f"the window closes ({_utc(cutoff)}) before it opens ({_utc(opens)})"),
            (due > cutoff, f"due ({_utc(due)}) is after the cut-off ({_utc(cutoff)})"),
            (due < opens, f"due ({_utc(due)}) is before the window opens ({_utc(opens)})"),
        )
        for failed, message in problems:
            if failed:
                raise ValidationError({field: f"project '{pkey}': {message}"})


def check(cohort: Cohort, *, move: tuple[str, datetime | None] | None = None) -> None:
    """Validate the cohort's calendar as it would be (optionally with one event moved) without saving."""
    overrides = {}
    if cohort.pk:
        overrides = {
            k: at
            for k, at in cohort.events.filter(override_at__isnull=False).values_list("key", "override_at")
        }
    if move is not None:
        key, at = move
        if at is None:
            overrides.pop(key, None)
        else:
            overrides[key] = at
    validate(cohort, plan(cohort), overrides)


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def local_day(cohort: Cohort, at: datetime) -> date:
    return at.astimezone(cohort.zone).date()
