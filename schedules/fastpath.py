"""Clocked one-offs at scale: an indexed horizon read, diffed reloads, and one conditional UPDATE that claims
a batch of due entries for the Beat about to send them (and one that releases those it could not send)."""

from __future__ import annotations

import heapq
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django_celery_beat.models import ClockedSchedule, PeriodicTask
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
    "last_run_at",
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
    last_run_at: datetime | None  # as read: what a release puts back
    row: tuple

    @classmethod
    def from_row(cls, row: tuple) -> ClockedEntry:
        """Raises ValueError (or TypeError) for arguments or headers that are not valid JSON."""
        (pk, name, task, args, kwargs, queue, exchange, routing_key, priority, headers) = row[:10]
        expires, expire_seconds, start_time, last_run_at, clocked_time = row[10:]
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
            last_run_at=_aware(last_run_at) if last_run_at else None,
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


@dataclass
class LoadResult:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unreadable: list[tuple[int, str, datetime, Exception]] = field(default_factory=list)


class ClockedBook:
    """The clocked entries in Beat's horizon and a heap of their due times.

    An entry leaves the book when it is taken to be sent; by then its row is claimed (disabled) in the
    database before anything is published, so a later read no longer sees it.
    """

    def __init__(self) -> None:
        self.entries: dict[int, ClockedEntry] = {}
        self._heap: list[tuple[float, int]] = []
        self.loaded_until = 0.0  # epoch seconds: the upper bound of the last read
        self.full = True  # the next read takes every overdue entry, not only the look-back window

    def load(self, rows: Iterable[tuple], *, upper: float) -> LoadResult:
        """Make the book match rows (a horizon read); build entries only for new or changed rows."""
        result = LoadResult()
        fresh: dict[int, ClockedEntry] = {}
        for row in rows:
            pk = row[0]
            clocked_time = _aware(row[_CLOCKED_TIME])
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

    def put_back(self, entries: Iterable[ClockedEntry], *, due: float) -> None:
        """Hold entries taken but not sent (their claim or publish failed) again, due at `due`."""
        for entry in entries:
            entry.due = due
            self.entries[entry.pk] = entry
            heapq.heappush(self._heap, (due, entry.pk))


@dataclass(frozen=True, slots=True)
class Claim:
    """A due one-off this Beat wants: to send it (run=True), or only to disable it (expired, unreadable)."""

    pk: int
    clocked_time: datetime
    run: bool = True


def claim(claims: Sequence[Claim], *, at: datetime, lock_timeout_ms: int = 1000) -> set[int]:
    """Claim due one-offs for this Beat in one conditional UPDATE; return the pks it won.

    A row is won only while it is still enabled and at the clocked time it was read at. The claim
    disables it, and for those to be sent sets last_run_at = `at` and counts a run, so it is also the
    record that the entry fired. Two Beats claiming the same row at once: the database serialises the
    two UPDATEs (PostgreSQL re-checks `enabled` on the row the first one committed; SQLite takes the
    write lock for the whole statement), so exactly one gets its id back and only that one sends.
    """
    if not claims:
        return set()
    run = [c.pk for c in claims if c.run]
    changes = {"enabled": False}
    values: dict[str, list[tuple[object, list[int]]]] = {}
    if run:
        values["last_run_at"] = [(at, run)]
        values["total_run_count"] = [(_PLUS_ONE, run)]
    return _update(claims, enabled=True, changes=changes, values=values, lock_timeout_ms=lock_timeout_ms)


def release(entries: Sequence[ClockedEntry], *, at: datetime, lock_timeout_ms: int = 1000) -> set[int]:
    """Undo this Beat's claim of entries it could not publish; return the pks now due again.

    Only rows still as our claim at `at` left them (disabled, last_run_at = at, same clocked time) are
    re-enabled, with the run uncounted and last_run_at put back: an entry edited or re-armed since is
    left as it now is.
    """
    if not entries:
        return set()
    by_prior: dict[datetime | None, list[int]] = defaultdict(list)
    for entry in entries:
        by_prior[entry.last_run_at].append(entry.pk)
    return _update(
        [Claim(e.pk, e.clocked_time) for e in entries],
        enabled=False,
        changes={"enabled": True},
        values={
            "last_run_at": list(by_prior.items()),
            "total_run_count": [(_MINUS_ONE, [e.pk for e in entries])],
        },
        extra=("last_run_at", at),
        lock_timeout_ms=lock_timeout_ms,
    )


_PLUS_ONE = object()
_MINUS_ONE = object()


def _update(
    claims: Sequence[Claim],
    *,
    enabled: bool,
    changes: dict[str, object],
    values: dict[str, list[tuple[object, list[int]]]],
    extra: tuple[str, datetime] | None = None,
    lock_timeout_ms: int,
) -> set[int]:
    """UPDATE periodic tasks WHERE enabled = `enabled` AND each is at its clocked time ... RETURNING id.

    Raw SQL because the ORM's update() cannot say which rows it changed. `enabled` is a condition on
    the updated row itself (never only inside a subquery), so PostgreSQL re-evaluates it against a row
    another transaction changed while we waited for its lock.
    """
    returning = connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Give up rather than stall Beat behind a long transaction; the caller retries.
            cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        if returning:
            cursor.execute(*_update_sql(claims, enabled, changes, values, extra, returning=True))
            return {row[0] for row in cursor.fetchall()}
        # An older SQLite: one row at a time, its row count says whether we won it.
        won = set()
        for item in claims:
            cursor.execute(*_update_sql([item], enabled, changes, values, extra, returning=False))
            if cursor.rowcount == 1:
                won.add(item.pk)
        return won


def _update_sql(
    claims: Sequence[Claim],
    enabled: bool,
    changes: dict[str, object],
    values: dict[str, list[tuple[object, list[int]]]],
    extra: tuple[str, datetime] | None,
    *,
    returning: bool,
) -> tuple[str, list[object]]:
    ops = connection.ops
    qn = ops.quote_name
    table, clocked = qn(PeriodicTask._meta.db_table), qn(ClockedSchedule._meta.db_table)
    pk, clocked_id = qn("id"), qn("clocked_id")
    largest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    sets, set_params = [], []
    for column, value in changes.items():
        sets.append(f"{qn(column)} = %s")
        set_params.append(value)
    for column, cases in values.items():
        whens = []
        for value, pks in cases:
            whens.append(f"WHEN {pk} IN ({_marks(pks)}) THEN ")
            set_params += pks
            if value is _PLUS_ONE:
                whens[-1] += f"{qn(column)} + 1"
            elif value is _MINUS_ONE:
                whens[-1] += f"{largest}(0, {qn(column)} - 1)"  # never below zero, whatever an edit set
            else:
                whens[-1] += "%s"
                set_params.append(ops.adapt_datetimefield_value(value))
        sets.append(f"{qn(column)} = CASE {' '.join(whens)} ELSE {qn(column)} END")
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for item in claims:
        by_time[item.clocked_time].append(item.pk)
    groups, group_params = [], []
    for clocked_time, pks in by_time.items():
        groups.append(
            f"({pk} IN ({_marks(pks)}) AND {clocked_id} IN "  # noqa: S608 - quoted names, values as params
            f"(SELECT {pk} FROM {clocked} WHERE {qn('clocked_time')} = %s))"
        )
        group_params += [*pks, ops.adapt_datetimefield_value(clocked_time)]
    where = f"{qn('enabled')} = %s AND {pk} IN ({_marks(claims)}) AND ({' OR '.join(groups)})"
    where_params = [enabled, *(c.pk for c in claims), *group_params]
    if extra is not None:
        where += f" AND {qn(extra[0])} = %s"
        where_params.append(ops.adapt_datetimefield_value(extra[1]))
    sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {where}"  # noqa: S608 - quoted names, values as params
    if returning:
        sql += f" RETURNING {pk}"
    return sql, [*set_params, *where_params]


def _marks(items: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(items))
