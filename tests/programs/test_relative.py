"""Relative dates, durations and time zones of program files, resolved to exact UTC instants."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from programs.relative import (
    DurationError,
    RelativeDate,
    RelativeDateError,
    UnknownTimezoneError,
    format_duration,
    parse_duration,
    resolve_zone,
)

EXPECTED_FORM = "expected 'day N HH:MM' or 'week N mon..sun HH:MM', optionally prefixed by 'anchor_name:'"
NO_ANCHORS: dict[str, date] = {}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- parsing ---------------------------------------------------------------------------------------------


def test_parse_day_form():
    # given / when
    parsed = RelativeDate.parse("day 3 09:00")

    # then
    assert parsed == RelativeDate(anchor=None, week=None, weekday=None, day=3, at=time(9, 0))


def test_parse_negative_day():
    # given / when
    parsed = RelativeDate.parse("day -3 09:00")

    # then
    assert parsed.day == -3
    assert parsed.week is None


def test_parse_week_form():
    # given / when
    parsed = RelativeDate.parse("week 2 fri 23:59")

    # then
    assert parsed == RelativeDate(anchor=None, week=2, weekday=4, day=None, at=time(23, 59))


def test_parse_anchored_day():
    # given / when
    parsed = RelativeDate.parse("demo_day: day -1 18:00")

    # then
    assert parsed == RelativeDate(anchor="demo_day", week=None, weekday=None, day=-1, at=time(18, 0))


@pytest.mark.parametrize(
    "text",
    [
        "  demo_day :  week  0   Mon\t09:00 ",
        "demo_day:week 0 MON 09:00",
        "demo_day:\nweek +0 mon 09:00",
    ],
)
def test_parse_tolerates_whitespace_and_weekday_case(text):
    # given a messy but valid text
    # when
    parsed = RelativeDate.parse(text)

    # then
    assert parsed == RelativeDate(anchor="demo_day", week=0, weekday=0, day=None, at=time(9, 0))


@pytest.mark.parametrize(
    "text",
    [
        "day 0 00:00",
        "day -3 09:00",
        "day 112 23:59",
        "week 0 mon 09:00",
        "week 11 sun 12:30",
        "week -1 sat 07:05",
        "demo_day: day -1 18:00",
        "demo_day: week 0 wed 09:00",
        "a2_b: day 0 00:00",
    ],
)
def test_canonical_text_round_trips(text):
    # given
    parsed = RelativeDate.parse(text)

    # when
    written = str(parsed)

    # then the canonical text is what was read, and reads back to the same value
    assert written == text
    assert RelativeDate.parse(written) == parsed


def test_non_canonical_text_writes_canonical_form():
    # given
    parsed = RelativeDate.parse(" demo_day :week +2   FRI 23:59")

    # when / then
    assert str(parsed) == "demo_day: week 2 fri 23:59"


def test_unknown_weekday_message_quotes_text_and_expected_form():
    # given
    text = "week 3 funday 09:00"

    # when
    with pytest.raises(RelativeDateError) as caught:
        RelativeDate.parse(text)

    # then
    assert (
        str(caught.value)
        == f"'week 3 funday 09:00' is not a relative date: {EXPECTED_FORM}; unknown weekday 'funday'"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty text"),
        ("   ", "empty text"),
        ("demo_day:", "nothing after the anchor"),
        ("month 1 09:00", "starts with 'month'"),
        ("09:00", "starts with '09:00'"),
        ("day 3", "'day' takes 2 parts"),
        ("day 3 09:00 extra", "'day' takes 2 parts"),
        ("week 1 09:00", "'week' takes 3 parts"),
        ("day x 09:00", "day number 'x'"),
        ("day 1.5 09:00", "day number '1.5'"),
        ("week 10000 mon 09:00", "week number '10000'"),
        ("day 3 24:00", "time '24:00'"),
        ("day 3 09:60", "time '09:60'"),
        ("day 3 9:00", "time '9:00'"),
        ("day 3 09:00:00", "time '09:00:00'"),
        ("week 1 monday 09:00", "unknown weekday 'monday'"),
        ("Demo: day 1 09:00", "anchor name 'Demo'"),
        ("_x: day 1 09:00", "anchor name '_x'"),
        ("demo day: day 1 09:00", "starts with 'demo'"),
    ],
)
def test_parse_rejects_bad_text_with_reason(text, reason):
    # given a text that is not a relative date
    # when
    with pytest.raises(RelativeDateError) as caught:
        RelativeDate.parse(text)

    # then the message quotes the text, states the expected form and says what is wrong
    message = str(caught.value)
    assert message.startswith(f"{text!r} is not a relative date: {EXPECTED_FORM}; ")
    assert reason in message


@pytest.mark.parametrize("value", [None, 9, datetime(2027, 1, 4, tzinfo=UTC)])
def test_parse_rejects_non_text(value):
    # given a value YAML produced from an unquoted or empty field
    # when / then
    with pytest.raises(RelativeDateError, match="not text"):
        RelativeDate.parse(value)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"week": 1, "weekday": 0, "day": 2}, "not both"),
        ({"week": None, "weekday": None, "day": None}, "needs a day"),
        ({"week": 1, "weekday": None, "day": None}, "needs a day"),
        ({"week": 1, "weekday": 7, "day": None}, "weekday must be"),
        ({"week": None, "weekday": None, "day": 10_000}, "out of range"),
        ({"week": None, "weekday": None, "day": 1, "at": time(9, 0, 30)}, "whole minute"),
        ({"week": None, "weekday": None, "day": 1, "at": time(9, 0, tzinfo=UTC)}, "naive"),
        ({"week": None, "weekday": None, "day": 1, "anchor": "Demo"}, "anchor name"),
    ],
)
def test_constructor_rejects_values_that_cannot_print_back(fields, reason):
    # given fields that no text could produce
    values = {"anchor": None, "at": time(9, 0), **fields}

    # when / then
    with pytest.raises(RelativeDateError, match=reason):
        RelativeDate(**values)


# --- local dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("week 0 mon 09:00", date(2027, 1, 4)),
        ("week 0 wed 09:00", date(2027, 1, 6)),
        ("week 0 sun 09:00", date(2027, 1, 10)),
        ("week 1 mon 09:00", date(2027, 1, 11)),
        ("week -1 fri 09:00", date(2027, 1, 1)),
        ("day 0 09:00", date(2027, 1, 6)),
        ("day 5 09:00", date(2027, 1, 11)),
    ],
)
def test_week_zero_holds_a_wednesday_start(text, expected):
    # given a cohort starting on Wednesday 2027-01-06
    start = date(2027, 1, 6)

    # when
    local = RelativeDate.parse(text).local_date(start, NO_ANCHORS)

    # then week 0 runs Monday 2027-01-04 to Sunday 2027-01-10
    assert local == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("week 0 mon 09:00", date(2027, 1, 4)),
        ("week 0 sun 09:00", date(2027, 1, 10)),
        ("week 1 mon 09:00", date(2027, 1, 11)),
        ("day 0 09:00", date(2027, 1, 10)),
        ("day 1 09:00", date(2027, 1, 11)),
    ],
)
def test_week_zero_holds_a_sunday_start(text, expected):
    # given a cohort starting on Sunday 2027-01-10, the last day of its week
    start = date(2027, 1, 10)

    # when
    local = RelativeDate.parse(text).local_date(start, NO_ANCHORS)

    # then week 0 began six days before the start
    assert local == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("day -3 09:00", date(2027, 1, 1)),
        ("day -4 09:00", date(2026, 12, 31)),
        ("day -365 09:00", date(2026, 1, 4)),
    ],
)
def test_negative_days_count_back_from_the_start(text, expected):
    # given a cohort starting on Monday 2027-01-04
    start = date(2027, 1, 4)

    # when
    local = RelativeDate.parse(text).local_date(start, NO_ANCHORS)

    # then
    assert local == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("demo_day: day 0 09:00", date(2027, 4, 30)),
        ("demo_day: day -3 09:00", date(2027, 4, 27)),
        ("demo_day: day -1 18:00", date(2027, 4, 29)),
        ("demo_day: week 0 mon 09:00", date(2027, 4, 26)),
        ("demo_day: week -1 fri 09:00", date(2027, 4, 23)),
        ("day 0 09:00", date(2027, 1, 4)),
    ],
)
def test_anchor_replaces_the_start(text, expected):
    # given a cohort starting 2027-01-04 whose demo day is Friday 2027-04-30
    anchors = {"demo_day": date(2027, 4, 30)}

    # when
    local = RelativeDate.parse(text).local_date(date(2027, 1, 4), anchors)

    # then anchored dates count from the demo day, the others from the start
    assert local == expected


def test_unknown_anchor_names_it_and_lists_the_set_ones():
    # given a cohort that set other anchors but not demo_day
    anchors = {"kickoff": date(2027, 1, 4), "graduation": date(2027, 5, 7)}
    relative = RelativeDate.parse("demo_day: day -3 09:00")

    # when
    with pytest.raises(RelativeDateError) as caught:
        relative.local_date(date(2027, 1, 4), anchors)

    # then
    assert str(caught.value) == (
        "'demo_day: day -3 09:00' needs the anchor 'demo_day', which is not set "
        "(anchors set: 'graduation', 'kickoff')"
    )


def test_unknown_anchor_with_no_anchors_set_says_none():
    # given / when
    with pytest.raises(RelativeDateError, match=r"anchors set: none\)$"):
        RelativeDate.parse("demo_day: day 0 09:00").local_date(date(2027, 1, 4), NO_ANCHORS)


def test_date_outside_the_calendar_is_a_relative_date_error():
    # given a start at the end of the calendar
    # when / then
    with pytest.raises(RelativeDateError, match="outside the calendar"):
        RelativeDate.parse("day 1 09:00").local_date(date.max, NO_ANCHORS)


# --- resolution to UTC -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "text", "expected"),
    [
        # Fixed-offset zones, including the odd quarter and half hours.
        ("Africa/Lagos", date(2027, 1, 4), "week 0 mon 09:00", utc(2027, 1, 4, 8, 0)),
        ("Africa/Lagos", date(2027, 1, 4), "week 0 fri 23:59", utc(2027, 1, 8, 22, 59)),
        ("Africa/Lagos", date(2027, 1, 4), "day 0 00:30", utc(2027, 1, 3, 23, 30)),
        ("Asia/Kolkata", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 4, 3, 30)),
        ("Asia/Kolkata", date(2027, 1, 4), "day 0 05:29", utc(2027, 1, 3, 23, 59)),
        ("Asia/Kathmandu", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 4, 3, 15)),
        ("Asia/Kathmandu", date(2027, 1, 4), "day 0 00:10", utc(2027, 1, 3, 18, 25)),
        # Ordinary standard and summer time.
        ("America/New_York", date(2027, 1, 4), "week 0 mon 09:00", utc(2027, 1, 4, 14, 0)),
        ("America/New_York", date(2027, 6, 7), "week 0 mon 09:00", utc(2027, 6, 7, 13, 0)),
        ("Europe/London", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 4, 9, 0)),
        ("Europe/London", date(2027, 6, 7), "day 0 09:00", utc(2027, 6, 7, 8, 0)),
        ("Australia/Lord_Howe", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 3, 22, 0)),
        ("Australia/Lord_Howe", date(2027, 6, 7), "day 0 09:00", utc(2027, 6, 6, 22, 30)),
        ("Pacific/Auckland", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 3, 20, 0)),
        ("Pacific/Auckland", date(2027, 6, 7), "day 0 09:00", utc(2027, 6, 6, 21, 0)),
    ],
)
def test_resolve_gives_exact_utc_instant(zone, start, text, expected):
    # given a cohort in zone starting on start
    # when
    instant = RelativeDate.parse(text).resolve(start=start, tz=ZoneInfo(zone), anchors=NO_ANCHORS)

    # then
    assert instant == expected
    assert instant.tzinfo is UTC


# The 2027 transitions, as reported by zoneinfo itself:
#   America/New_York     2027-03-14 02:00 EST -> 03:00 EDT (07:00Z);
#                        2027-11-07 02:00 EDT -> 01:00 EST (06:00Z)
#   Europe/London        2027-03-28 01:00 GMT -> 02:00 BST (01:00Z);
#                        2027-10-31 02:00 BST -> 01:00 GMT (01:00Z)
#   Australia/Lord_Howe  2027-04-04 02:00 +11 -> 01:30 +1030 (04-03 15:00Z);
#                        2027-10-03 02:00 +1030 -> 02:30 +11 (10-02 15:30Z)
#   Pacific/Auckland     2027-04-04 03:00 NZDT -> 02:00 NZST (04-03 14:00Z);
#                        2027-09-26 02:00 NZST -> 03:00 NZDT (09-25 14:00Z)
@pytest.mark.parametrize(
    ("zone", "start", "text", "expected_utc", "expected_local"),
    [
        # Spring-forward gaps: the skipped wall time fires the length of the gap later.
        ("America/New_York", date(2027, 3, 8), "week 0 sun 02:30", utc(2027, 3, 14, 7, 30), time(3, 30)),
        ("America/New_York", date(2027, 3, 14), "day 0 02:00", utc(2027, 3, 14, 7, 0), time(3, 0)),
        ("America/New_York", date(2027, 3, 14), "day 0 02:59", utc(2027, 3, 14, 7, 59), time(3, 59)),
        ("Europe/London", date(2027, 3, 28), "day 0 01:30", utc(2027, 3, 28, 1, 30), time(2, 30)),
        ("Australia/Lord_Howe", date(2027, 10, 3), "day 0 02:15", utc(2027, 10, 2, 15, 45), time(2, 45)),
        ("Australia/Lord_Howe", date(2027, 10, 3), "day 0 02:00", utc(2027, 10, 2, 15, 30), time(2, 30)),
        ("Pacific/Auckland", date(2027, 9, 26), "day 0 02:30", utc(2027, 9, 25, 14, 30), time(3, 30)),
        # Fall-back overlaps: the repeated wall time fires at its first occurrence (still summer time).
        ("America/New_York", date(2027, 11, 1), "week 0 sun 01:30", utc(2027, 11, 7, 5, 30), time(1, 30)),
        ("America/New_York", date(2027, 11, 7), "day 0 01:00", utc(2027, 11, 7, 5, 0), time(1, 0)),
        ("Europe/London", date(2027, 10, 31), "day 0 01:30", utc(2027, 10, 31, 0, 30), time(1, 30)),
        ("Australia/Lord_Howe", date(2027, 4, 4), "day 0 01:45", utc(2027, 4, 3, 14, 45), time(1, 45)),
        ("Pacific/Auckland", date(2027, 4, 4), "day 0 02:30", utc(2027, 4, 3, 13, 30), time(2, 30)),
        # Just outside the transitions nothing moves.
        ("America/New_York", date(2027, 3, 14), "day 0 01:59", utc(2027, 3, 14, 6, 59), time(1, 59)),
        ("America/New_York", date(2027, 3, 14), "day 0 03:00", utc(2027, 3, 14, 7, 0), time(3, 0)),
        ("America/New_York", date(2027, 11, 7), "day 0 02:00", utc(2027, 11, 7, 7, 0), time(2, 0)),
        ("Australia/Lord_Howe", date(2027, 4, 4), "day 0 02:00", utc(2027, 4, 3, 15, 30), time(2, 0)),
    ],
)
def test_resolve_moves_gap_times_forward_and_takes_first_of_repeated_times(
    zone, start, text, expected_utc, expected_local
):
    # given a cohort in a zone with daylight saving time
    tz = ZoneInfo(zone)

    # when
    instant = RelativeDate.parse(text).resolve(start=start, tz=tz, anchors=NO_ANCHORS)

    # then
    assert instant == expected_utc
    assert instant.tzinfo is UTC
    assert instant.astimezone(tz).time() == expected_local


def test_resolve_counts_anchored_dates_from_the_anchor():
    # given a Lagos cohort starting 2027-01-04 with demo day on Friday 2027-04-30
    anchors = {"demo_day": date(2027, 4, 30)}
    tz = ZoneInfo("Africa/Lagos")

    # when
    due = RelativeDate.parse("demo_day: day -1 18:00").resolve(start=date(2027, 1, 4), tz=tz, anchors=anchors)
    opens = RelativeDate.parse("demo_day: day -3 09:00").resolve(
        start=date(2027, 1, 4), tz=tz, anchors=anchors
    )

    # then
    assert due == utc(2027, 4, 29, 17, 0)
    assert opens == utc(2027, 4, 27, 8, 0)


def _transitions(tz: ZoneInfo, year: int) -> list[datetime]:
    """The UTC instants in year at which tz changes its offset (each on a whole minute)."""
    found = []
    instant = utc(year, 1, 1)
    while instant.year == year:
        offset = instant.astimezone(tz).utcoffset()
        changed = (instant + timedelta(minutes=step) for step in range(1, 61))
        first = next((m for m in changed if m.astimezone(tz).utcoffset() != offset), None)
        if first is not None:
            found.append(first)
        instant += timedelta(hours=1)
    return found


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Auckland"]
)
def test_resolve_follows_the_rule_for_every_minute_around_each_transition(zone):
    # given every wall-clock minute from a day before to a day after each of the zone's 2027 transitions
    tz = ZoneInfo(zone)
    transitions = _transitions(tz, 2027)
    assert len(transitions) == 2
    for transition in transitions:
        before = (transition - timedelta(minutes=1)).astimezone(tz).utcoffset()
        after = transition.astimezone(tz).utcoffset()
        assert before is not None
        assert after is not None
        day = (transition.astimezone(tz) - timedelta(days=1)).date()
        for minute in range(3 * 24 * 60):
            wall = datetime.combine(day, time()) + timedelta(minutes=minute)
            # Candidate instants are the wall time read with either offset; the real ones read back to it.
            real = sorted(
                {
                    candidate
                    for offset in (before, after)
                    if (candidate := (wall - offset).replace(tzinfo=UTC)).astimezone(tz).replace(tzinfo=None)
                    == wall
                }
            )
            # A real time takes its first occurrence; a skipped one keeps the old offset (so moves forward).
            expected = real[0] if real else (wall - before).replace(tzinfo=UTC)

            # when
            instant = RelativeDate(anchor=None, week=None, weekday=None, day=0, at=wall.time()).resolve(
                start=wall.date(), tz=tz, anchors=NO_ANCHORS
            )

            # then
            assert instant == expected, f"{zone} {wall:%Y-%m-%d %H:%M}"
            if not real:
                assert instant.astimezone(tz).replace(tzinfo=None) == wall + (after - before)


# --- durations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("1h", timedelta(hours=1)),
        ("30m", timedelta(minutes=30)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("0m", timedelta(0)),
        ("1d2h3m", timedelta(days=1, hours=2, minutes=3)),
        (" 2h ", timedelta(hours=2)),
    ],
)
def test_parse_duration(text, expected):
    # given / when / then
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(0), "0m"),
        (timedelta(minutes=30), "30m"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(hours=24), "1d"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(days=3, minutes=5), "3d5m"),
    ],
)
def test_format_duration_round_trips(duration, expected):
    # given / when
    text = format_duration(duration)

    # then
    assert text == expected
    assert parse_duration(text) == duration


@pytest.mark.parametrize(
    "text", ["", "h", "12", "1.5h", "-1h", "1h1d", "1w", "30 m", "1d 12h", "30s", "2H", "1234567h"]
)
def test_parse_duration_rejects_other_text(text):
    # given / when
    with pytest.raises(DurationError) as caught:
        parse_duration(text)

    # then the message quotes the text
    assert str(caught.value).startswith(f"{text!r} is not a duration: expected ")


def test_parse_duration_rejects_non_text():
    # given a number YAML produced from an unquoted field
    # when / then
    with pytest.raises(DurationError, match="^24 is not a duration"):
        parse_duration(24)


@pytest.mark.parametrize(
    "duration", [timedelta(minutes=-1), timedelta(seconds=90), timedelta(microseconds=1)]
)
def test_format_duration_rejects_what_cannot_be_written(duration):
    # given / when / then
    with pytest.raises(DurationError, match="non-negative whole number of minutes"):
        format_duration(duration)


# --- time zones ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Africa/Lagos",
        "America/New_York",
        "Europe/London",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
        "Pacific/Auckland",
        "UTC",
    ],
)
def test_resolve_zone_accepts_iana_names(name):
    # given / when
    zone = resolve_zone(name)

    # then
    assert zone == ZoneInfo(name)


def test_resolve_zone_message_names_the_zone_and_gives_examples():
    # given / when
    with pytest.raises(UnknownTimezoneError) as caught:
        resolve_zone("Mars/Olympus")

    # then
    assert str(caught.value) == (
        "'Mars/Olympus' is not an IANA time zone (for example 'Africa/Lagos', 'America/New_York')"
    )


@pytest.mark.parametrize(
    "name",
    [
        "",
        " Africa/Lagos",
        "africa/lagos",
        "America",
        "../etc/passwd",
        "/etc/passwd",
        "America/../Europe/London",
        "Europe/London/..",
        "Europe/London\x00",
        "localtime",
        "posixrules",
        None,
    ],
)
def test_resolve_zone_refuses_everything_else(name):
    # given a name that is empty, a path, a folder, a host alias or no text at all
    # when / then
    with pytest.raises(UnknownTimezoneError, match="is not an IANA time zone"):
        resolve_zone(name)


@pytest.mark.parametrize("text", ["10000d", "9999d1m", "999999d", "240000h"])
def test_parse_duration_refuses_more_than_9999_days(text):
    # given a reminder or grace that would push a date past the calendar's end (999999d overflowed)
    # when / then
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == f"{text!r} is longer than 9999 days, the longest duration a program may use"


def test_parse_duration_accepts_exactly_9999_days():
    # given / when / then
    assert parse_duration("9999d") == timedelta(days=9999)
