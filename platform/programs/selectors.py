"""Program reads: the schedule a program gives a sample cohort (the admin's preview), resolved the way
the cohorts' calendar resolves it (programs.relative), in the program's zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core import clock
from programs.models import Program, Project, Unit
from programs.relative import (
    DurationError,
    RelativeDate,
    RelativeDateError,
    UnknownTimezoneError,
    format_duration,
    parse_duration,
    resolve_zone,
)

# A sample cohort's anchors default to this long after its start (the capstone's demo day, typically).
DEFAULT_ANCHOR_AFTER = timedelta(weeks=12)


@dataclass(frozen=True)
class PreviewTime:
    """One resolved date: local wall-clock time in the preview's zone (or why it cannot be resolved)."""

    at: datetime | None  # local, aware
    text: str  # the relative date as written
    error: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        return self.at.strftime("%a %d %b %H:%M") if self.at else ""

    @property
    def utc_label(self) -> str:
        return self.at.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC") if self.at else ""


@dataclass(frozen=True)
class PreviewRow:
    week: int | None
    unit: Unit
    project: Project | None
    opens: PreviewTime  # a unit's unlock, or a project's opening
    due: PreviewTime | None = None
    cutoff: PreviewTime | None = None
    reminders: list[PreviewTime] = field(default_factory=list)
    skipped_reminders: list[str] = field(default_factory=list)  # before the window opens: never sent
    problem: str = ""  # a window out of order for this sample cohort (its calendar would refuse it)

    @property
    def opens_due_cutoff(self) -> list[PreviewTime]:
        return [t for t in (self.opens, self.due, self.cutoff) if t is not None]


@dataclass(frozen=True)
class SchedulePreview:
    program: Program
    start: date
    anchors: dict[str, date]
    zone: ZoneInfo
    zone_note: str
    rows: list[PreviewRow]

    @property
    def problems(self) -> int:
        times = [t for r in self.rows for t in (r.opens, r.due, r.cutoff) if t is not None]
        return sum(1 for t in times if t.error) + sum(1 for r in self.rows if r.problem)


def program_zone(program: Program) -> tuple[ZoneInfo, str]:
    """The program's timezone_hint as a zone, or UTC with a note saying why."""
    if not program.timezone_hint:
        return ZoneInfo("UTC"), "the program sets no time zone hint"
    try:
        return resolve_zone(program.timezone_hint), ""
    except UnknownTimezoneError as exc:
        return ZoneInfo("UTC"), str(exc)


def next_monday(zone: ZoneInfo, now: datetime | None = None) -> date:
    """The first Monday after today in ``zone`` (today is read from the one clock)."""
    today = (now or clock.now()).astimezone(zone).date()
    return today + timedelta(days=(7 - today.weekday()) or 7)


def default_anchors(program: Program, start: date) -> dict[str, date]:
    """A sample date for each anchor: start + 12 weeks, or the week after the program's last date that
    does not count from an anchor, if later (so a capstone counted from its demo day follows the weeks)."""
    day = start + DEFAULT_ANCHOR_AFTER
    texts = [u.unlock for u in program.units.all()]
    texts += [t for p in program.projects.all() for t in (p.opens, p.due, p.cutoff)]
    for text in texts:
        try:
            relative = RelativeDate.parse(text)
            if relative.anchor is None:
                last = relative.local_date(start, {})
                day = max(day, last - timedelta(days=last.weekday()) + timedelta(weeks=1))
        except RelativeDateError:
            continue
    return {name: day for name in program.anchors or []}


def program_schedule_preview(
    *,
    program: Program,
    start: date | None = None,
    anchors: Mapping[str, date] | None = None,
) -> SchedulePreview:
    """Every unit's unlock and every project's window and reminders for a sample cohort starting on
    ``start`` (default: the next Monday) with these anchor dates (default: start + 12 weeks each)."""
    zone, zone_note = program_zone(program)
    start = start or next_monday(zone)
    dates = {**default_anchors(program, start), **(anchors or {})}
    monday = start - timedelta(days=start.weekday())

    def resolve(text: str) -> PreviewTime:
        try:
            instant = RelativeDate.parse(text).resolve(start=start, tz=zone, anchors=dates)
        except RelativeDateError as exc:
            return PreviewTime(at=None, text=text, error=str(exc))
        return PreviewTime(at=instant.astimezone(zone), text=text)

    def week_of(when: PreviewTime) -> int | None:
        return (when.at.date() - monday).days // 7 if when.at else None

    rows: list[PreviewRow] = []
    projects_by_unit: dict[int, list[Project]] = {}
    for project in program.projects.order_by("position", "pk"):
        projects_by_unit.setdefault(project.unit_id, []).append(project)
    defaults = list(program.default_reminders or [])
    for unit in program.units.order_by("position", "pk"):
        unlock = resolve(unit.unlock)
        rows.append(PreviewRow(week=week_of(unlock), unit=unit, project=None, opens=unlock))
        for project in projects_by_unit.get(unit.pk, []):
            opens, due, cutoff = resolve(project.opens), resolve(project.due), resolve(project.cutoff)
            if cutoff.at and project.grace:
                cutoff = PreviewTime(
                    at=cutoff.at, text=cutoff.text, note=f"grace {format_duration(project.grace)}"
                )
            sent, skipped = _reminders(project, defaults, opens, due, zone)
            rows.append(
                PreviewRow(
                    week=week_of(due) if due.at else week_of(opens),
                    unit=unit,
                    project=project,
                    opens=opens,
                    due=due,
                    cutoff=cutoff,
                    reminders=sent,
                    skipped_reminders=skipped,
                    problem=_window_problem(opens, due, cutoff),
                )
            )
    return SchedulePreview(
        program=program, start=start, anchors=dates, zone=zone, zone_note=zone_note, rows=rows
    )


def _window_problem(opens: PreviewTime, due: PreviewTime, cutoff: PreviewTime) -> str:
    """The calendar's window rules (cohorts.calendar.validate) for this sample, as a warning."""
    if not (opens.at and due.at and cutoff.at):
        return ""
    if cutoff.at < opens.at:
        return "closes before it opens"
    if due.at < opens.at:
        return "due before it opens"
    if due.at > cutoff.at:
        return "due after the cut-off"
    return ""


def _reminders(
    project: Project, defaults: list[str], opens: PreviewTime, due: PreviewTime, zone: ZoneInfo
) -> tuple[list[PreviewTime], list[str]]:
    """Reminders as the calendar plans them: one per offset before due, none before the window opens."""
    if due.at is None:
        return [], []
    offsets = project.reminders if project.reminders is not None else defaults
    sent: list[PreviewTime] = []
    skipped: list[str] = []
    seen = set()
    for text in offsets:
        try:
            offset = parse_duration(str(text))
        except DurationError:
            continue
        if offset in seen:
            continue
        seen.add(offset)
        # In UTC, as the calendar does: an offset is elapsed time, not wall-clock time, across a DST change.
        at = (due.at.astimezone(UTC) - offset).astimezone(zone)
        if opens.at is not None and at < opens.at:
            skipped.append(format_duration(offset))
        else:
            sent.append(PreviewTime(at=at, text=format_duration(offset)))
    sent.sort(key=lambda t: t.at)
    return sent, skipped
