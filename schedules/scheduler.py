"""NexusScheduler: the DatabaseScheduler made to scale, one active Beat (Redis lock), a heartbeat."""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from schedules import heartbeat
from schedules.fastpath import ClockedBook, ClockedEntry, Fired, read_rows, record_fired
from schedules.lock import BeatLock

logger = logging.getLogger("nexus.beat")

STANDBY_SLEEP = 1.0
# How often Beat asks the database whether anything changed (one primary-key read of
# PeriodicTasks.last_update): an edit is acted on within about this long.
POLL_INTERVAL = 0.25
# Clocked one-offs are read only while due within HORIZON seconds; overdue ones within LOOKBACK
# (older ones at Beat's first read, when it starts or takes over).
HORIZON = 120.0
LOOKBACK = 300.0
# Right before sending, re-check for edits unless we checked this recently: an entry moved later
# must not go out at its old time.
PRESEND_FRESHNESS = 0.05
# Fired one-offs are disabled in the database in one UPDATE per this many seconds (or entries).
WRITE_EVERY = 1.0
WRITE_BATCH = 1000
WRITE_LOCK_TIMEOUT_MS = 1000
# Messages per Redis pipeline when a batch of due entries goes out.
SEND_CHUNK = 100
# Interval, crontab and solar entries are few: re-read them on each change and at least this often.
STATIC_REFRESH = 300.0
# After a failed read, keep sending from memory and try the database again this much later.
DB_RETRY = 5.0


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class NexusScheduler(DatabaseScheduler):
    """The database scheduler, run by whichever Beat holds the lock; a standby only waits.

    Interval, crontab and solar entries take the stock path. Clocked one-offs (every calendar
    event) take a fast path: only those due within a short horizon are in memory, read by an
    indexed range query; a change re-reads that horizon and rebuilds only the entries whose rows
    differ; due entries go out together through one producer; and fired ones are disabled in one
    batched UPDATE instead of a save() and a full reload each.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.poll_interval = float(getattr(settings, "NEXUS_BEAT_POLL_INTERVAL", POLL_INTERVAL))
        self.horizon = float(getattr(settings, "NEXUS_BEAT_HORIZON", HORIZON))
        self.lookback = float(getattr(settings, "NEXUS_BEAT_LOOKBACK", LOOKBACK))
        self._book = ClockedBook()
        self._unwritten: list[Fired] = []
        self._unwritten_since = 0.0
        self._next_write = 0.0
        self._next_poll = 0.0
        self._polled_at = 0.0
        self._static_at = 0.0
        self._db_retry_at = 0.0
        super().__init__(*args, **kwargs)
        # Scheduler.apply_async syncs on the first send when _last_sync is unset; fired one-offs have
        # their own write cadence, and interval entries are synced before every reload.
        self._last_sync = time.monotonic()
        # Renew well inside the lock's TTL, whatever Beat's own max interval is.
        self.max_interval = min(self.max_interval, settings.NEXUS_BEAT_LOCK_TTL / 3)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._redis = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        self._lock = BeatLock(self._redis, settings.NEXUS_BEAT_LOCK_KEY, settings.NEXUS_BEAT_LOCK_TTL)
        self._was_leader = False

    # --- leadership -----------------------------------------------------------------------------

    def tick(self, *args: object, **kwargs: object) -> float:
        try:
            leader = self._lock.acquire_or_renew()
        except redis.RedisError as exc:
            logger.warning("cannot reach Redis for the Beat lock (%s); sending nothing this tick", exc)
            self._lock.held = False
            return STANDBY_SLEEP
        if leader != self._was_leader:
            logger.info(
                "this Beat is now %s (lock %s)",
                "the leader" if leader else "a standby",
                settings.NEXUS_BEAT_LOCK_KEY,
            )
            if leader:
                # Another Beat may have sent and recorded entries while we stood by.
                self._book.full = True
                self._next_poll = 0.0
                self._static_at = 0.0
            self._was_leader = leader
        if not leader:
            # What we sent as leader is a fact; record it (one-offs and interval run times alike) so the
            # new leader does not send it again.
            self.sync()
            return STANDBY_SLEEP
        try:
            heartbeat.beat(self._redis)
        except redis.RedisError as exc:
            logger.warning("cannot write the Beat heartbeat: %s", exc)
        return self._tick_leader(*args, **kwargs)

    def close(self) -> None:
        self.sync()  # record what we sent before another Beat can take the lock
        try:
            self._lock.release()
        except (redis.RedisError, AttributeError):
            pass
        super().close()

    # --- the tick ---------------------------------------------------------------------------------

    def _tick_leader(self, *args: object, **kwargs: object) -> float:
        now = time.time()
        self._refresh(now)
        next_due = self._book.next_due()
        if next_due is not None and next_due <= now:
            if now - self._polled_at > PRESEND_FRESHNESS and now >= self._db_retry_at:
                self._refresh(now, force=True)
            # The tick may have blocked (a slow query, a broker reconnect) past the lock's TTL, and a
            # standby may have taken over and sent these: renew right before sending, or send nothing.
            if self._still_leader():
                self._send(self._book.take_due(time.time()))
        self._write_fired()
        # Interval, crontab and solar entries: the stock heap, over self.schedule (those entries only).
        delay = super().tick(*args, **kwargs)
        now = time.time()
        wake = [delay, self._next_poll - now]
        next_due = self._book.next_due()
        if next_due is not None:
            wake.append(next_due - now)
        if self._unwritten:
            wake.append(max(self._unwritten_since + WRITE_EVERY, self._next_write) - now)
        return max(0.0, min(wake))

    @property
    def schedule(self) -> dict:
        """The interval, crontab and solar entries (clocked one-offs live in self._book)."""
        if self._schedule is None:
            self._load_static()
        return self._schedule

    def _refresh(self, now: float, *, force: bool = False) -> None:
        if now < self._db_retry_at:
            return
        poll = force or now >= self._next_poll
        advance = now + self.horizon / 2 >= self._book.loaded_until
        if not (poll or advance or self._book.full):
            return
        try:
            close_old_connections()
            changed, stamp = False, self._last_timestamp
            if poll:
                self._next_poll = now + self.poll_interval
                self._polled_at = now
                # Read the change mark before the rows: an edit committed in between is read now
                # and seen again as a change on the next poll, never missed.
                stamp = PeriodicTasks.last_change()
                changed = stamp != self._last_timestamp
            if changed or now - self._static_at >= STATIC_REFRESH:
                self._load_static()
            if changed or advance or self._book.full:
                self._load_clocked(now)
            self._last_timestamp = stamp  # only once both reads succeeded
        except (DatabaseError, InterfaceError) as exc:
            # Keep sending what is already in memory; try the database again a little later.
            logger.warning(
                "cannot read the Beat schedule from the database (%r); retrying in %s s", exc, DB_RETRY
            )
            self._db_retry_at = now + DB_RETRY
            self._next_poll = self._db_retry_at
            # The outage may outlast the lookback: read every overdue entry once the database is back.
            self._book.full = True

    def _load_static(self) -> None:
        DatabaseScheduler.sync(self)  # write run times of interval/crontab entries before re-reading
        entries = {}
        for model in PeriodicTask.objects.enabled().filter(clocked__isnull=True):
            try:
                entries[model.name] = self.Entry(model, app=self.app)
            except ValueError:
                pass
        self._schedule = entries
        self._heap = None  # Scheduler.tick rebuilds its heap from the new entries
        self._static_at = time.time()

    def _load_clocked(self, now: float) -> None:
        full = self._book.full
        upper = now + self.horizon
        rows = read_rows(upper=_utc(upper), lower=None if full else _utc(now - self.lookback))
        result = self._book.load(rows, upper=upper)
        self._book.full = False
        for pk, name, clocked_time, exc in result.unreadable:
            logger.error("disabling schedule %s: its arguments or headers are not valid JSON (%r)", name, exc)
            self._done(pk, clocked_time, None)
        logger.debug(
            "clocked entries re-read%s: %d added, %d changed, %d removed, %d in the horizon",
            " (all overdue)" if full else "",
            result.added,
            result.changed,
            result.removed,
            len(self._book.entries),
        )

    # --- sending and recording --------------------------------------------------------------------

    def _still_leader(self) -> bool:
        try:
            return self._lock.acquire_or_renew()
        except redis.RedisError as exc:
            logger.warning("cannot renew the Beat lock before sending (%s); sending nothing", exc)
            return False

    def _send(self, due: list[ClockedEntry]) -> None:
        if not due:
            return
        at = _utc(time.time())
        producer = self.producer
        batch = getattr(producer, "batch", None)  # kombu >= 5.7: pipelined publishes
        try:
            with batch(max_size=SEND_CHUNK) if batch else nullcontext():
                for entry in due:
                    expired = entry.expires is not None and entry.expires <= at
                    # Marked first: whatever happens to the send or the DB write, this Beat run
                    # sends this one-off (at this clocked time) once.
                    self._done(entry.pk, entry.clocked_time, None if expired else at)
                    if expired:
                        logger.info("Scheduler: Not sending expired task %s (%s)", entry.name, entry.task)
                        continue
                    logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
                    try:
                        self.apply_async(entry, producer=producer, advance=False)
                    except Exception:
                        logger.exception("Message Error: could not send %s", entry.name)
        except Exception:
            logger.exception("Message Error: could not publish a batch of %d due entries", len(due))

    def _done(self, pk: int, clocked_time: datetime, at: datetime | None) -> None:
        self._book.mark(pk, clocked_time)
        if not self._unwritten:
            self._unwritten_since = time.time()
        self._unwritten.append(Fired(pk=pk, clocked_time=clocked_time, at=at))

    def _write_fired(self, *, force: bool = False) -> None:
        if not self._unwritten:
            return
        now = time.time()
        if not force and (
            now < self._next_write
            or (now - self._unwritten_since < WRITE_EVERY and len(self._unwritten) < WRITE_BATCH)
        ):
            return
        batch = self._unwritten
        try:
            record_fired(batch, lock_timeout_ms=WRITE_LOCK_TIMEOUT_MS)
        except (DatabaseError, InterfaceError) as exc:
            # The entries stay marked as sent in memory, so nothing goes out twice meanwhile.
            logger.warning("cannot record %d fired one-offs yet (%r); will retry", len(batch), exc)
            self._next_write = now + WRITE_EVERY
            return
        self._unwritten = self._unwritten[len(batch) :]
        self._book.recorded(batch)
        self._next_write = 0.0

    def sync(self) -> None:
        self._write_fired(force=True)
        super().sync()
