"""A cohort's calendar computed from its program: plain planned events in UTC, and their validation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError

from cohorts.keys import EventKey
from cohorts.models import Cohort, CohortEvent, Enrollment, Extension
from programs.models import Project
from programs.relative import RelativeDate, RelativeDateError, format_duration, parse_duration

Kind = CohortEvent.Kind
# Within one instant: a unit unlocks before its project opens, a window is due before it closes.
KIND_ORDER = {kind.value: index for index, kind in enumerate(Kind)}


@dataclass(frozen=True)
class PlannedEvent:
    key: EventKey
    at: datetime  # calendar instant, UTC
    anchor: str | None = None  # the cohort anchor its template date counts from, if any

    @property
    def name(self) -> str:
        return str(self.key)

    @property
    def kind(self) -> str:
        return self.key.kind

    @property
    def subject(self) -> str:
        return self.key.subject

    @property
    def enrollment_id(self) -> int | None:
        return self.key.enrollment_id


@dataclass(frozen=True)
class Window:
    """A project's window for one learner (or the cohort), in calendar UTC."""

    opens: datetime
    due: datetime
    cutoff: datetime
    grace: timedelta

    def widened(self, *, due: datetime, cutoff: datetime) -> Window:
        """The most lenient of this window and an extension's due and cut-off."""
        return Window(
            opens=self.opens, due=max(self.due, due), cutoff=max(self.cutoff, cutoff), grace=self.grace
        )


Overrides = Mapping[str, datetime]  # event key -> the time staff moved it to


def resolve(cohort: Cohort, text: str, *, what: str) -> datetime:
    """A relative date of the program as a UTC instant for this cohort; a ValidationError names the
    cohort field to fix (the anchors when it counts from an anchor, else the start date)."""
    try:
        relative = RelativeDate.parse(text)
    except RelativeDateError as exc:
        raise ValidationError({"program": f"{what}: {exc}"}) from exc
    try:
        return relative.resolve(start=cohort.start_date, tz=cohort.zone, anchors=cohort.anchor_dates())
    except RelativeDateError as exc:
        raise ValidationError({"anchors" if relative.anchor else "start_date": f"{what}: {exc}"}) from exc


def template_window(cohort: Cohort, project: Project) -> Window:
    """A project's cohort-wide window from the template (before overrides and extensions)."""
    what = f"project '{project.key}'"
    return Window(
        opens=resolve(cohort, project.opens, what=what),
        due=resolve(cohort, project.due, what=what),
        cutoff=resolve(cohort, project.cutoff, what=what),
        grace=project.grace,
    )


def cohort_window(cohort: Cohort, project: Project, overrides: Overrides) -> Window:
    """The cohort's effective window: the template's, with the events staff moved for this cohort."""
    base = template_window(cohort, project)
    return Window(
        opens=overrides.get(str(EventKey(Kind.OPEN, project.key)), base.opens),
        due=overrides.get(str(EventKey(Kind.DUE, project.key)), base.due),
        cutoff=overrides.get(str(EventKey(Kind.CLOSE, project.key)), base.cutoff),
        grace=base.grace,
    )


def learner_windows(
    extensions: Iterable[Extension], enrollments: Iterable[Enrollment], windows: Mapping[int, Window]
) -> dict[tuple[int, int], Window]:
    """(project id, enrollment id) -> the learner's window: the most lenient of the cohort's effective
    window and every extension that applies to them (their own and their group's). Extensions of
    projects the cohort's program does not have (kept from a former program) apply to nothing."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for enrollment in enrollments:
        if enrollment.group:
            by_group[enrollment.group].append(enrollment.pk)
    best: dict[tuple[int, int], Window] = {}
    for ext in extensions:
        if ext.project_id not in windows:
            continue
        targets = [ext.enrollment_id] if ext.enrollment_id else by_group.get(ext.group, [])
        for eid in targets:
            current = best.get((ext.project_id, eid), windows[ext.project_id])
            best[(ext.project_id, eid)] = current.widened(due=ext.due_at, cutoff=ext.cutoff_at)
    return best


def overrides_of(cohort: Cohort) -> dict[str, datetime]:
    if not cohort.pk:
        return {}
    return dict(
        cohort.events.filter(program_id=cohort.program_id, override_at__isnull=False).values_list(
            "key", "override_at"
        )
    )


def plan(cohort: Cohort, overrides: Overrides | None = None) -> list[PlannedEvent]:
    """Every event of the cohort's calendar, learner-specific ones for extensions included."""
    if overrides is None:
        overrides = overrides_of(cohort)
    program = cohort.program
    events: list[PlannedEvent] = []
    for unit in program.units.all():
        at = resolve(cohort, unit.unlock, what=f"unit '{unit.key}'")
        events.append(PlannedEvent(EventKey(Kind.UNLOCK, unit.key), at, _anchor(unit.unlock)))
    projects: list[Project] = list(program.projects.select_related("program"))
    windows = {p.pk: cohort_window(cohort, p, overrides) for p in projects}
    enrollments = list(cohort.enrollments.all()) if cohort.pk else []
    extensions = list(cohort.extensions.all()) if cohort.pk else []
    extended = learner_windows(extensions, enrollments, windows)
    by_id = {p.pk: p for p in projects}
    for project in projects:
        window = windows[project.pk]
        events.append(PlannedEvent(EventKey(Kind.OPEN, project.key), window.opens, _anchor(project.opens)))
        events.extend(_window_events(cohort, project, window, None))
    for (pid, eid), window in sorted(extended.items()):
        events.extend(_window_events(cohort, by_id[pid], window, eid))
    return events


def _window_events(cohort: Cohort, project: Project, window: Window, eid: int | None) -> list[PlannedEvent]:
    out = []
    for offset in sorted({parse_duration(o) for o in project.reminder_offsets()}, reverse=True):
        try:
            at = window.due - offset
        except OverflowError:
            raise ValidationError(
                {
                    "start_date": f"project '{project.key}': a reminder {format_duration(offset)} before due "
                    "falls outside the calendar"
                }
            ) from None
        if at >= window.opens:  # a reminder before the window opens would remind of nothing
            key = EventKey(Kind.REMIND, project.key, format_duration(offset), eid)
            out.append(PlannedEvent(key, at, _anchor(project.due)))
    out.append(PlannedEvent(EventKey(Kind.DUE, project.key, None, eid), window.due, _anchor(project.due)))
    out.append(
        PlannedEvent(EventKey(Kind.CLOSE, project.key, None, eid), window.cutoff, _anchor(project.cutoff))
    )
    return out


def _anchor(text: str) -> str | None:
    try:
        return RelativeDate.parse(text).anchor
    except RelativeDateError:
        return None


def validate(cohort: Cohort, events: list[PlannedEvent], overrides: Overrides) -> None:
    """Refuse a calendar whose windows close before they open, are due after the cut-off, or that
    puts an event before the cohort starts; each message names the field to fix."""
    start = datetime.combine(cohort.start_date, time(0), tzinfo=cohort.zone)
    at = {e.name: overrides.get(e.name, e.at) for e in events}
    for event in events:
        when = at[event.name]
        if when < start:
            # Blame what the staff member can change: the moved event, the anchor it counts from, or
            # the start date.
            field = (
                "override_at" if event.name in overrides else ("anchors" if event.anchor else "start_date")
            )
            raise ValidationError(
                {
                    field: f"{event.name} falls on {local_text(cohort, when)}, before the cohort starts on "
                    f"{cohort.start_date.isoformat()}"
                }
            )
    for event in events:
        if event.kind != Kind.OPEN:
            continue
        pkey = event.subject
        names = [str(EventKey(kind, pkey)) for kind in (Kind.OPEN, Kind.DUE, Kind.CLOSE)]
        opens, due, cutoff = (at.get(name) for name in names)
        if due is None or cutoff is None:
            continue
        field = "override_at" if set(names) & set(overrides) else "anchors"
        problems = (
            (cutoff < opens, f"the window closes ({_utc(cutoff)}) before it opens ({_utc(opens)})"),
            (due > cutoff, f"due ({_utc(due)}) is after the cut-off ({_utc(cutoff)})"),
            (due < opens, f"due ({_utc(due)}) is before the window opens ({_utc(opens)})"),
        )
        for failed, message in problems:
            if failed:
                raise ValidationError({field: f"project '{pkey}': {message}"})


def check(
    cohort: Cohort, *, move: tuple[str, datetime | None] | None = None, zone_was: ZoneInfo | None = None
) -> None:
    """Validate the cohort's calendar as it would be (optionally with one event moved, or after a zone
    change from `zone_was`, which keeps moved events at their local wall time) without saving."""
    overrides = overrides_of(cohort)
    if zone_was is not None:
        overrides = {key: same_wall_time(at, zone_was, cohort.zone) for key, at in overrides.items()}
    if move is not None:
        key, at = move
        if at is None:
            overrides.pop(key, None)
        else:
            overrides[key] = at
    validate(cohort, plan(cohort, overrides), overrides)


def same_wall_time(at: datetime, old: ZoneInfo, new: ZoneInfo) -> datetime:
    """The instant showing the same local wall-clock time in `new` as `at` shows in `old` (a time the
    new zone skips moves forward by the gap, a repeated one takes its first occurrence)."""
    wall = at.astimezone(old).replace(tzinfo=None)
    return wall.replace(tzinfo=new, fold=0).astimezone(UTC)


def local_text(cohort: Cohort, at: datetime) -> str:
    return at.astimezone(cohort.zone).strftime("%Y-%m-%d %H:%M %Z")


def sort_key(kind: str, at: datetime, key: str) -> tuple:
    """Due order within a cohort: by instant, then unlock < open < remind < due < close, then key."""
    return (at, KIND_ORDER.get(kind, len(KIND_ORDER)), key)


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def local_day(cohort: Cohort, at: datetime) -> date:
    return at.astimezone(cohort.zone).date()
