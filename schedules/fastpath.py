"""Clocked one-offs at scale: an indexed horizon read, diffed reloads, and one UPDATE for fired entries."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, PositiveIntegerField, Q, Value, When
from django_celery_beat.models import PeriodicTask
from kombu.utils.json import loads

# The columns of an enabled clocked PeriodicTask that make up its Beat entry. A reload compares whole
# rows, so any edit (the admin's save(), a queryset.update(), a moved ClockedSchedule) is seen without
# relying on date_changed, which update() does not bump.
ROW = (
    "pk",
    "name",
    "task",
    "args",
    "kwargs",
    "queue",
    "exchange",
    "routing_key",
    "priority",
    "headers",
    "expires",
    "expire_seconds",
    "start_time",
    "clocked__clocked_time",
)
_CLOCKED_TIME = ROW.index("clocked__clocked_time")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(slots=True, eq=False)
class ClockedEntry:
    """One clocked one-off as Beat sends it (the attributes Scheduler.apply_async reads)."""

    pk: int
    name: str
    task: str
    args: list
    kwargs: dict
    options: dict
    clocked_time: datetime
    due: float  # epoch seconds: the clocked time, or the start time if that is later
    expires: datetime | None
    row: tuple

    @classmethod
    def from_row(cls, row: tuple) -> ClockedEntry:
        """Raises ValueError (or TypeError) for arguments or headers that are not valid JSON."""
        (pk, name, task, args, kwargs, queue, exchange, routing_key, priority, headers) = row[:10]
        expires, expire_seconds, start_time, clocked_time = row[10:]
        # The same options the stock ModelEntry builds, so a message looks the same whichever sends it.
        options = {
            key: value
            for key, value in (
                ("queue", queue),
                ("exchange", exchange),
                ("routing_key", routing_key),
                ("priority", priority),
            )
            if value is not None
        }
        if expires or expire_seconds:
            options["expires"] = expires or expire_seconds
        message_headers = loads(headers or "{}")
        message_headers["periodic_task_name"] = name
        options["headers"] = message_headers
        clocked_time = _aware(clocked_time)
        due_at = max(clocked_time, _aware(start_time)) if start_time else clocked_time
        return cls(
            pk=pk,
            name=name,
            task=task,
            args=loads(args or "[]"),
            kwargs=loads(kwargs or "{}"),
            options=options,
            clocked_time=clocked_time,
            due=due_at.timestamp(),
            expires=_aware(expires) if expires else None,
            row=row,
        )


def read_rows(*, upper: datetime, lower: datetime | None = None) -> list[tuple]:
    """Enabled clocked entries due in [lower, upper]: a range on clocked_time, joined by clocked_id.

    Cheap only with an index on django_celery_beat_clockedschedule(clocked_time); without one it is
    still correct, but scans every clocked schedule.
    """
    rows = PeriodicTask.objects.filter(enabled=True, clocked__clocked_time__lte=upper)
    if lower is not None:
        rows = rows.filter(clocked__clocked_time__gte=lower)
    return list(rows.values_list(*ROW))


@dataclass(frozen=True, slots=True)
class Fired:
    """A clocked one-off this Beat is done with: sent at `at`, or dropped unsent (at is None)."""

    pk: int
    clocked_time: datetime
    at: datetime | None


@dataclass
class LoadResult:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unreadable: list[tuple[int, str, datetime, Exception]] = field(default_factory=list)


class ClockedBook:
    """The clocked entries in Beat's horizon, a heap of their due times, and what this run has sent."""

    def __init__(self) -> None:
        self.entries: dict[int, ClockedEntry] = {}
        self._heap: list[tuple[float, int]] = []
        # pk -> clocked time sent (or dropped) by this Beat whose disabled state is not yet committed:
        # a reload that still sees such a row enabled must not send it again.
        self.sent: dict[int, datetime] = {}
        self.loaded_until = 0.0  # epoch seconds: the upper bound of the last read
        self.full = True  # the next read takes every overdue entry, not only the look-back window

    def load(self, rows: Iterable[tuple], *, upper: float) -> LoadResult:
        """Make the book match rows (a horizon read); build entries only for new or changed rows."""
        result = LoadResult()
        fresh: dict[int, ClockedEntry] = {}
        for row in rows:
            pk = row[0]
            clocked_time = _aware(row[_CLOCKED_TIME])
            if self.sent.get(pk) == clocked_time:
                continue
            old = self.entries.get(pk)
            if old is not None and old.row == row:
                fresh[pk] = old
                continue
            try:
                entry = ClockedEntry.from_row(row)
            except (ValueError, TypeError) as exc:
                result.unreadable.append((pk, row[1], clocked_time, exc))
                continue
            fresh[pk] = entry
            heapq.heappush(self._heap, (entry.due, pk))
            if old is None:
                result.added += 1
            else:
                result.changed += 1
        result.removed = len(self.entries.keys() - fresh.keys())
        self.entries = fresh
        self.loaded_until = upper
        if len(self._heap) > 2 * len(fresh) + 1024:
            # Moved and removed entries leave stale heap items behind; drop them now and then.
            self._heap = [(entry.due, pk) for pk, entry in fresh.items()]
            heapq.heapify(self._heap)
        return result

    def next_due(self) -> float | None:
        heap = self._heap
        while heap:
            due, pk = heap[0]
            entry = self.entries.get(pk)
            if entry is not None and entry.due == due:
                return due
            heapq.heappop(heap)
        return None

    def take_due(self, now: float) -> list[ClockedEntry]:
        """Remove and return every entry due at `now`, earliest first."""
        taken = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, pk = heapq.heappop(heap)
            entry = self.entries.get(pk)
            if entry is None or entry.due != due:
                continue
            del self.entries[pk]
            taken.append(entry)
        return taken

    def mark(self, pk: int, clocked_time: datetime) -> None:
        self.sent[pk] = clocked_time

    def recorded(self, fired: Iterable[Fired]) -> None:
        """Their disabled state is committed: a later read that sees one enabled means it was re-armed."""
        for item in fired:
            if self.sent.get(item.pk) == item.clocked_time:
                del self.sent[item.pk]


def record_fired(fired: Sequence[Fired], *, lock_timeout_ms: int = 1000) -> int:
    """Disable the fired one-offs in one UPDATE; set last_run_at and count a run for those sent.

    A row only matches while it is enabled and still at the clocked time it was sent for, so an entry
    moved (or re-armed) since keeps its new schedule. On PostgreSQL the write gives up after
    lock_timeout_ms rather than stall Beat behind a long transaction; the caller retries later.
    """
    if not fired:
        return 0
    pks_by_time: dict[datetime, list[int]] = defaultdict(list)
    pks_by_run: dict[datetime, list[int]] = defaultdict(list)
    for item in fired:
        pks_by_time[item.clocked_time].append(item.pk)
        if item.at is not None:
            pks_by_run[item.at].append(item.pk)
    match = Q()
    for clocked_time, pks in pks_by_time.items():
        match |= Q(clocked__clocked_time=clocked_time, pk__in=pks)
    changes: dict = {"enabled": False}
    if pks_by_run:
        ran = [pk for pks in pks_by_run.values() for pk in pks]
        changes["last_run_at"] = Case(
            *(When(pk__in=pks, then=Value(at)) for at, pks in pks_by_run.items()),
            default=F("last_run_at"),
            output_field=DateTimeField(),
        )
        changes["total_run_count"] = Case(
            When(pk__in=ran, then=F("total_run_count") + 1),
            default=F("total_run_count"),
            output_field=PositiveIntegerField(),
        )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        return PeriodicTask.objects.filter(match, enabled=True).update(**changes)
