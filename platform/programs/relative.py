"""Relative dates ("week 2 fri 23:59", "demo_day: day -1 18:00"), durations and time zones for programs."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

__all__ = [
    "MAX_DURATION",
    "WEEKDAYS",
    "DurationError",
    "MissingAnchorError",
    "RelativeDate",
    "RelativeDateError",
    "UnknownTimezoneError",
    "format_duration",
    "parse_duration",
    "resolve_zone",
]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Ten thousand days or weeks is far beyond any program; the bound keeps date arithmetic from
# overflowing and huge digit strings from reaching int().
MAX_OFFSET = 9999
# The same bound for a duration (a reminder offset, a grace period), so an offset never overflows a date.
MAX_DURATION = timedelta(days=MAX_OFFSET)

_EXPECTED = "expected 'day N HH:MM' or 'week N mon..sun HH:MM', optionally prefixed by 'anchor_name:'"
_ANCHOR_NAME = re.compile(r"[a-z][a-z0-9_]*")
# The prefix must start with a letter so that a bare time such as "09:00" is never taken for an anchor.
_ANCHOR_PREFIX = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)", re.DOTALL)
_OFFSET = re.compile(r"[+-]?\d{1,4}")
_CLOCK = re.compile(r"(\d{2}):(\d{2})")
_DURATION = re.compile(r"\s*(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,6})m)?\s*")
_ZONE_EXAMPLES = "(for example 'Africa/Lagos', 'America/New_York')"
# Present in the zone database on many hosts, but they name the host's setting, not a place.
_HOST_ZONES = frozenset({"localtime", "posixrules"})


class RelativeDateError(ValueError):
    """A relative date that cannot be parsed, built or resolved."""


class MissingAnchorError(RelativeDateError):
    """A relative date that counts from an anchor the cohort has not set."""


class DurationError(ValueError):
    """A duration string that is not of the form '1d12h30m'."""


class UnknownTimezoneError(ValueError):
    """A name that is not an IANA time zone."""


@dataclass(frozen=True)
class RelativeDate:
    """A wall-clock time on a day counted from the cohort start or from a named anchor date.

    Exactly one form is set: ``day`` (days after the base date), or ``week`` with ``weekday``
    (0 = Monday; week 0 is the Monday-to-Sunday week that holds the base date).
    """

    anchor: str | None
    week: int | None
    weekday: int | None
    day: int | None
    at: time

    def __post_init__(self) -> None:
        # Validated here too, not only in parse(), so a hand-built value always prints back to parseable text.
        if self.anchor is not None and not _ANCHOR_NAME.fullmatch(self.anchor):
            raise RelativeDateError(f"anchor name {self.anchor!r} must match [a-z][a-z0-9_]*")
        if self.day is not None:
            if self.week is not None or self.weekday is not None:
                raise RelativeDateError("a relative date has either a day or a week and weekday, not both")
            _check_offset("day", self.day)
        elif self.week is None or self.weekday is None:
            raise RelativeDateError("a relative date needs a day, or a week and a weekday")
        else:
            _check_offset("week", self.week)
            if not 0 <= self.weekday <= 6:
                raise RelativeDateError(f"weekday must be 0 (mon) to 6 (sun), got {self.weekday}")
        if self.at.tzinfo is not None or self.at.second or self.at.microsecond:
            raise RelativeDateError(f"time must be a naive whole minute, got {self.at!r}")

    def __str__(self) -> str:
        prefix = f"{self.anchor}: " if self.anchor else ""
        clock = self.at.strftime("%H:%M")
        if self.day is not None:
            return f"{prefix}day {self.day} {clock}"
        return f"{prefix}week {self.week} {WEEKDAYS[self.weekday or 0]} {clock}"

    @classmethod
    def parse(cls, text: str) -> RelativeDate:
        """Parse 'day N HH:MM' or 'week N mon..sun HH:MM', optionally prefixed by 'anchor_name:'."""

        def fail(reason: str) -> RelativeDateError:
            return RelativeDateError(f"{text!r} is not a relative date: {_EXPECTED}; {reason}")

        # Program files come from YAML, which turns some values into numbers or null.
        if not isinstance(text, str):
            raise fail(f"got {type(text).__name__}, not text")
        anchor: str | None = None
        body = text
        prefixed = _ANCHOR_PREFIX.fullmatch(text)
        if prefixed:
            anchor, body = prefixed.group(1), prefixed.group(2)
            if not _ANCHOR_NAME.fullmatch(anchor):
                raise fail(
                    f"anchor name {anchor!r} needs lowercase letters, digits and '_', starting with a letter"
                )
        words = body.split()
        if not words:
            raise fail("nothing after the anchor" if anchor else "empty text")
        kind = words[0].lower()
        if kind not in ("day", "week"):
            raise fail(f"starts with {words[0]!r}, not 'day' or 'week'")
        arity = 3 if kind == "day" else 4
        if len(words) != arity:
            shape = "day N HH:MM" if kind == "day" else "week N mon..sun HH:MM"
            raise fail(f"'{kind}' takes {arity - 1} parts ({shape}), got {len(words) - 1}")
        if not _OFFSET.fullmatch(words[1]):
            raise fail(
                f"{kind} number {words[1]!r} is not a whole number between -{MAX_OFFSET} and {MAX_OFFSET}"
            )
        offset = int(words[1])
        weekday: int | None = None
        if kind == "week":
            try:
                weekday = WEEKDAYS.index(words[2].lower())
            except ValueError:
                raise fail(f"unknown weekday {words[2]!r}") from None
        clock = _CLOCK.fullmatch(words[-1])
        if not clock or int(clock.group(1)) > 23 or int(clock.group(2)) > 59:
            raise fail(f"time {words[-1]!r} is not HH:MM between 00:00 and 23:59")
        at = time(int(clock.group(1)), int(clock.group(2)))
        if kind == "day":
            return cls(anchor=anchor, week=None, weekday=None, day=offset, at=at)
        return cls(anchor=anchor, week=offset, weekday=weekday, day=None, at=at)

    def local_date(self, start: date, anchors: Mapping[str, date]) -> date:
        """The calendar date this points at, for a cohort starting on ``start`` with these anchor dates."""
        if self.anchor is None:
            base = start
        elif self.anchor in anchors:
            base = anchors[self.anchor]
        else:
            known = ", ".join(repr(name) for name in sorted(anchors)) or "none"
            raise MissingAnchorError(
                f"'{self}' needs the anchor {self.anchor!r}, which is not set (anchors set: {known})"
            )
        if self.day is not None:
            days = self.day
        else:
            # Counting from the Monday of the base date's week makes "week 0 mon" the Monday on or before it.
            days = -base.weekday() + 7 * (self.week or 0) + (self.weekday or 0)
        try:
            return base + timedelta(days=days)
        except OverflowError:
            raise RelativeDateError(f"'{self}' falls outside the calendar when counted from {base}") from None

    def resolve(self, *, start: date, tz: ZoneInfo, anchors: Mapping[str, date]) -> datetime:
        """The UTC instant of this wall-clock time in ``tz``.

        A time skipped by a spring-forward gap moves forward by the gap; a time repeated by a fall-back
        takes its first occurrence. fold=0 gives exactly that under PEP 495 (a gap time keeps the offset
        from before the transition, a repeated time the earlier one); the tests pin it down per zone.
        """
        local = datetime.combine(self.local_date(start, anchors), self.at, tzinfo=tz)
        return local.replace(fold=0).astimezone(UTC)


def _check_offset(kind: str, value: int) -> None:
    if not -MAX_OFFSET <= value <= MAX_OFFSET:
        raise RelativeDateError(f"{kind} {value} is out of range (-{MAX_OFFSET}..{MAX_OFFSET})")


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as '24h', '30m', '2d' or '1d12h30m' (units in that order, each at most once)."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise DurationError(
            f"{text!r} is not a duration: expected whole days, hours and minutes in that order,"
            " such as '24h', '30m', '1d12h'"
        )
    days, hours, minutes = (int(part or 0) for part in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes)
    if duration > MAX_DURATION:
        raise DurationError(
            f"{text!r} is longer than {MAX_OFFSET} days, the longest duration a program may use"
        )
    return duration


def format_duration(td: timedelta) -> str:
    """The canonical text of a duration, so that parse_duration(format_duration(td)) == td."""
    if td < timedelta(0) or td % timedelta(minutes=1):
        raise DurationError(
            f"{td!r} cannot be written as a duration: it must be a non-negative whole number of minutes"
        )
    hours, minutes = divmod(td.seconds // 60, 60)
    text = "".join(
        f"{value}{unit}" for value, unit in ((td.days, "d"), (hours, "h"), (minutes, "m")) if value
    )
    return text or "0m"


@functools.cache
def _zone_names() -> frozenset[str]:
    # Walking the zone database is slow and its content is fixed for the life of the process.
    return frozenset(available_timezones()) - _HOST_ZONES


def resolve_zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA zone name; anything else (empty, a path, a folder) is refused."""
    # Checking a known list first, rather than trying ZoneInfo(name), keeps paths and folder names away from
    # the file system and gives one error type where ZoneInfo raises ValueError or OSError.
    if not isinstance(name, str) or name not in _zone_names():
        raise UnknownTimezoneError(f"{name!r} is not an IANA time zone {_ZONE_EXAMPLES}")
    return ZoneInfo(name)
