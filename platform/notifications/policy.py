"""Delivery policy: the state a new outbox row starts in (preferences, quiet hours) and the hourly cap."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q

from cohorts.models import Cohort, Enrollment
from notifications.models import Channel, Notification, Preference
from programs.relative import UnknownTimezoneError, resolve_zone

Status = Notification.Status
HoldReason = Notification.HoldReason
Mode = Preference.Mode

# A learner without a QuietHours row: reminders wait out 22:00-07:00 local; every other kind goes at once.
DEFAULT_QUIET_START = time(22, 0)
DEFAULT_QUIET_END = time(7, 0)
DEFAULT_QUIET_KINDS = (Notification.Kind.REMINDER,)
# One query's worth of learner ids (SQLite allows 32,766 parameters), so a 10,000-learner cohort costs
# the same two queries as a single learner.
_CHUNK = 10_000


@dataclass(frozen=True)
class Decision:
    """A row's first status, why it is held if it is, and when a held row may go out."""

    status: str
    hold_reason: str = HoldReason.NONE
    not_before: datetime | None = None


IMMEDIATELY = Decision(Status.PENDING)
WRITTEN = Decision(Status.SENT)  # in-app: the row is the feed entry


def initial(*, kind: str, channel: str, enrollment_ids: Iterable[int], now: datetime) -> dict[int, Decision]:
    """The state each new row (one per learner) starts in: their preference, then their quiet hours.

    Two queries whatever the number of learners. A rehearsal cohort's rows keep no quiet hours.
    """
    ids = list(dict.fromkeys(enrollment_ids))
    modes: dict[int, str] = {}
    for chunk in _chunks(ids):
        wanted = set(chunk)
        prefs = Preference.objects.filter(_among("enrollment_id", chunk), kind=kind, channel=channel)
        modes.update((eid, mode) for eid, mode in prefs.values_list("enrollment_id", "mode") if eid in wanted)
    decisions: dict[int, Decision] = {}
    to_check: list[int] = []  # learners whose row goes out now unless their quiet hours say otherwise
    for eid in ids:
        mode = modes.get(eid, Mode.IMMEDIATELY)
        if mode == Mode.OFF:
            decisions[eid] = Decision(Status.SUPPRESSED)
        elif channel == Channel.INAPP:
            # Written is delivered: the feed shows it (a digest preference changes nothing in a feed).
            decisions[eid] = WRITTEN
        elif mode == Mode.DIGEST and kind != Notification.Kind.DIGEST and channel == Channel.EMAIL:
            # The digest is an email: a chat row set to "digest" (staff may have) goes out as usual,
            # rather than waiting for a digest that never lists it.
            decisions[eid] = Decision(Status.HELD, HoldReason.DIGEST)
        else:
            decisions[eid] = IMMEDIATELY
            to_check.append(eid)
    for eid, until in _quiet_until(kind=kind, enrollment_ids=to_check, now=now).items():
        decisions[eid] = Decision(Status.HELD, HoldReason.QUIET_HOURS, until)
    return decisions


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _among(field: str, ids: Sequence[int]) -> Q:
    """Rows whose `field` is one of ids, or a superset the caller filters (ids dense in a range).

    A cohort's learners have nearly consecutive ids: a range costs nothing to build, where Django takes
    about half a second to compile an IN list of 10,000 parameters.
    """
    low, high = min(ids, default=0), max(ids, default=0)
    if high - low < 2 * len(ids):
        return Q(**{f"{field}__gte": low, f"{field}__lte": high})
    return Q(**{f"{field}__in": ids})


def _quiet_until(*, kind: str, enrollment_ids: Sequence[int], now: datetime) -> dict[int, datetime]:
    """The learners (of these) inside their quiet hours for this kind now, each with the instant they end."""
    held: dict[int, datetime] = {}
    ends: dict[tuple, datetime | None] = {}  # learners share a few zones and quiet hours: compute each once
    for chunk in _chunks(enrollment_ids):
        wanted = set(chunk)
        for eid, own_zone, cohort_zone, speed, enabled, start, end, kinds in _learners(chunk):
            if eid not in wanted or speed != 1:
                continue  # not asked about; or a rehearsal, whose calendar runs faster than any night
            if enabled is False:
                continue  # the learner turned quiet hours off
            if start is None:  # no row: the default
                start, end, kinds = DEFAULT_QUIET_START, DEFAULT_QUIET_END, DEFAULT_QUIET_KINDS
            if kinds and kind not in kinds:
                continue
            zone = learner_zone(own_zone, cohort_zone)
            if zone is None:
                continue
            key = (zone, start, end)
            if key not in ends:
                ends[key] = quiet_end(now=now, zone=zone, start=start, end=end)
            until = ends[key]
            if until is not None:
                held[eid] = until
    return held


def _learners(ids: Sequence[int]) -> list[tuple]:
    """One query: each learner's zone, their cohort's zone and speed, and their quiet hours (None: none)."""
    return list(
        Enrollment.objects.filter(_among("pk", ids)).values_list(
            "pk",
            "timezone",
            "cohort__timezone",
            "cohort__speed",
            "quiet_hours__enabled",
            "quiet_hours__start",
            "quiet_hours__end",
            "quiet_hours__kinds",
        )
    )


@cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return resolve_zone(name)
    except UnknownTimezoneError:
        return None


def learner_zone(own: str, cohort: str) -> ZoneInfo | None:
    """The learner's own zone when valid, else their cohort's (a bad zone stored by hand is skipped)."""
    return (_zone(own) if own else None) or _zone(cohort)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time: a skipped time moves forward by the gap, a repeated one
    takes its first occurrence (invariant 3)."""
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(UTC)


def quiet_end(*, now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the quiet hours [start, end) around `now` end (in UTC), or None when `now` is outside them.

    Quiet hours that cross midnight (22:00-07:00) end on the next local day when they began the day before.
    """
    if start == end:
        return None  # no quiet hours (the admin refuses this; a row written by hand must not hold forever)
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        inside, end_day = start <= wall < end, today
    elif wall >= start:
        inside, end_day = True, today + timedelta(days=1)
    else:
        inside, end_day = wall < end, today
    if not inside:
        return None
    return local_instant(end_day, end, zone)


def hold_over_cap(rows: Sequence[Notification], now: datetime) -> list[Notification]:
    """Of a batch about to be sent, hold for the digest each email past its learner's hourly cap.

    A learner who got NEXUS_NOTIFY_HOURLY_CAP emails in the last hour gets no more until the hour has
    passed: the rest are held (hold_reason cap) and go out in their next digest. The digest itself and a
    rehearsal cohort's emails are never held, and rows of other channels pass untouched. Returns the rows
    still to send, in their order.
    """
    cap = settings.NEXUS_NOTIFY_HOURLY_CAP
    capped = [
        row
        for row in rows
        if row.channel == Channel.EMAIL and row.enrollment_id and row.kind != Notification.Kind.DIGEST
    ]
    if capped and cap > 0:
        # A rehearsal plays weeks in minutes: capping it would hold most of what staff came to watch.
        rehearsals = set(
            Cohort.objects.filter(pk__in={row.cohort_id for row in capped})
            .exclude(speed=1)
            .values_list("pk", flat=True)
        )
        capped = [row for row in capped if row.cohort_id not in rehearsals]
    if not capped or cap <= 0:
        return list(rows)
    learners = {row.enrollment_id for row in capped}
    sent = dict(
        Notification.objects.filter(
            enrollment_id__in=learners,
            channel=Channel.EMAIL,
            status=Status.SENT,
            sent_at__gt=now - timedelta(hours=1),
        )
        .values_list("enrollment_id")
        .annotate(n=Count("pk"))
        .values_list("enrollment_id", "n")
    )
    held: set[int] = set()
    for row in capped:
        count = sent.get(row.enrollment_id, 0)
        if count >= cap:
            held.add(row.pk)
        else:
            sent[row.enrollment_id] = count + 1  # this one goes: it counts against the rest of the batch
    if not held:
        return list(rows)
    # Only rows still in the sender's hands move (a reclaimed row belongs to another sender now).
    Notification.objects.filter(pk__in=held, status=Status.SENDING).update(
        status=Status.HELD, hold_reason=HoldReason.CAP, lease_until=None
    )
    return [row for row in rows if row.pk not in held]


def release_quiet(*, now: datetime) -> int:
    """Rows held for quiet hours that have ended go back to pending (the sweep then sends them)."""
    return Notification.objects.filter(
        status=Status.HELD, hold_reason=HoldReason.QUIET_HOURS, not_before__lte=now
    ).update(status=Status.PENDING, hold_reason=HoldReason.NONE)
