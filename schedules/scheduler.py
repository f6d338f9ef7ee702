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
from schedules.fastpath import Claim, ClockedBook, ClockedEntry, claim, read_rows, release
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
# Due one-offs are claimed in the database (one conditional UPDATE per this many) before any is sent.
CLAIM_BATCH = 1000
WRITE_LOCK_TIMEOUT_MS = 1000
# Messages per Redis pipeline when a batch of due entries goes out; a chunk whose publish fails is
# released and sent again once this many seconds have passed (on the next tick after that).
SEND_CHUNK = 100
SEND_RETRY = 1.0
# An entry whose publish failed this many times in a row (a message the broker will never take, not an
# outage of a few seconds) stays claimed and is left to the reconciler, so it cannot hold up the
# entries it is sent with forever.
MAX_SEND_ATTEMPTS = 60
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
    differ; due entries are claimed in the database with one conditional UPDATE (which also records
    them as fired) and only the rows this Beat won go out, together through one producer.

    The claim fences the leader: a Beat that lost the Redis lock between its renewal and its publish
    (a stall, a partition) finds the rows already claimed by the new leader and sends nothing, so two
    Beats never both send one entry at one clocked time. Rows whose publish failed are released (made
    due again) and go out on a later tick, from whichever Beat leads by then.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.poll_interval = float(getattr(settings, "NEXUS_BEAT_POLL_INTERVAL", POLL_INTERVAL))
        self.horizon = float(getattr(settings, "NEXUS_BEAT_HORIZON", HORIZON))
        self.lookback = float(getattr(settings, "NEXUS_BEAT_LOOKBACK", LOOKBACK))
        self._book = ClockedBook()
        # Claimed by this Beat, not published, and not yet released (the release failed): the rows stay
        # disabled, so nobody sends them, until a release goes through.
        self._unreleased: list[tuple[ClockedEntry, datetime]] = []
        self._attempts: dict[tuple[int, datetime], int] = {}  # failed publishes of an entry, in a row
        self._next_poll = 0.0
        self._polled_at = 0.0
        self._static_at = 0.0
        self._db_retry_at = 0.0
        super().__init__(*args, **kwargs)
        # Scheduler.apply_async syncs on the first send when _last_sync is unset; one-offs are recorded by
        # their claim, and interval entries are synced before every reload.
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
            # Record interval run times, and release what we claimed but could not send, so the new leader
            # sends it.
            self.sync()
            return STANDBY_SLEEP
        try:
            heartbeat.beat(self._redis)
        except redis.RedisError as exc:
            logger.warning("cannot write the Beat heartbeat: %s", exc)
        return self._tick_leader(*args, **kwargs)

    def close(self) -> None:
        self.sync()  # release unsent claims before another Beat can take the lock
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
        self._release_unsent()
        # Interval, crontab and solar entries: the stock heap, over self.schedule (those entries only).
        delay = super().tick(*args, **kwargs)
        now = time.time()
        wake = [delay, self._next_poll - now]
        next_due = self._book.next_due()
        if next_due is not None:
            wake.append(next_due - now)
        if self._unreleased:
            wake.append(SEND_RETRY)
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
        if result.unreadable:
            for _pk, name, _clocked_time, exc in result.unreadable:
                logger.error(
                    "disabling schedule %s: its arguments or headers are not valid JSON (%r)", name, exc
                )
            claim(
                [Claim(pk, clocked_time, run=False) for pk, _name, clocked_time, _exc in result.unreadable],
                at=_utc(now),
                lock_timeout_ms=WRITE_LOCK_TIMEOUT_MS,
            )
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
        for lo in range(0, len(due), CLAIM_BATCH):
            self._claim_and_send(due[lo : lo + CLAIM_BATCH])

    def _claim_and_send(self, due: list[ClockedEntry]) -> None:
        if not due:
            return
        at = _utc(time.time())
        expired = {e.pk for e in due if e.expires is not None and e.expires <= at}
        try:
            won = claim(
                [Claim(e.pk, e.clocked_time, run=e.pk not in expired) for e in due],
                at=at,
                lock_timeout_ms=WRITE_LOCK_TIMEOUT_MS,
            )
        except (DatabaseError, InterfaceError) as exc:
            # Unclaimed, nothing may go out: hold the entries and claim them again a little later.
            logger.warning("cannot claim %d due one-offs (%r); retrying in %s s", len(due), exc, SEND_RETRY)
            self._book.put_back(due, due=time.time() + SEND_RETRY)
            return
        if len(won) < len(due):
            # Claimed by another Beat, or edited (moved, disabled, deleted) since we read them: re-read
            # now, so an entry moved elsewhere is held at its new time.
            logger.info(
                "Scheduler: %d of %d due one-offs were claimed elsewhere or changed; not sending them",
                len(due) - len(won),
                len(due),
            )
            self._next_poll = 0.0
        sending = []
        for entry in due:
            if entry.pk not in won:
                continue
            if entry.pk in expired:
                logger.info("Scheduler: Not sending expired task %s (%s)", entry.name, entry.task)
            else:
                sending.append(entry)
        failed = []
        for lo in range(0, len(sending), SEND_CHUNK):
            failed += self._publish(sending[lo : lo + SEND_CHUNK])
        if self._attempts:
            failed_pks = {e.pk for e in failed}
            for entry in sending:
                if entry.pk not in failed_pks:
                    self._attempts.pop((entry.pk, entry.clocked_time), None)
        retry = []
        for entry in failed:
            key = (entry.pk, entry.clocked_time)
            self._attempts[key] = self._attempts.get(key, 0) + 1
            if self._attempts[key] < MAX_SEND_ATTEMPTS:
                retry.append(entry)
                continue
            del self._attempts[key]
            logger.error(
                "Message Error: giving up on %s after %d failed publishes; left to the reconciler",
                entry.name,
                MAX_SEND_ATTEMPTS,
            )
        if retry:
            self._unreleased += [(entry, at) for entry in retry]
            self._release_unsent()

    def _publish(self, chunk: list[ClockedEntry]) -> list[ClockedEntry]:
        """Publish a chunk of claimed entries; return those the broker did not take.

        Pipelined (kombu's Producer.batch on a transport that supports it), the chunk is one pipeline,
        run when the batch context exits: an error before or during that run discards or fails it as a
        whole, and all of it is sent again. Unpipelined, each message goes out on its own, so those before
        the one that failed were taken and only the rest are sent again. (A reply lost after the broker
        ran a publish reads as a failure too: that message may go out twice, which the effects' unique
        keys absorb, invariant 1.)
        """
        producer = self.producer
        batch = getattr(producer, "batch", None)  # kombu >= 5.7: pipelined publishes
        channel = producer.channel
        pipelined = (
            batch is not None
            and hasattr(channel, "create_publish_batch")
            and getattr(channel, "supports_batch_publish", True)
        )
        published = 0
        try:
            # Room for every message: nothing is flushed half way, the pipeline runs once, at the end.
            with batch(max_size=4 * len(chunk)) if batch else nullcontext():
                for entry in chunk:
                    logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
                    self.apply_async(entry, producer=producer, advance=False)
                    published += 1
        except Exception:
            failed = chunk if pipelined else chunk[published:]
            logger.exception(
                "Message Error: could not publish %d due entries (%s%s); they will be sent again",
                len(failed),
                ", ".join(e.name for e in failed[:3]),
                ", ..." if len(failed) > 3 else "",
            )
            return failed
        return []

    def _release_unsent(self) -> None:
        """Make claimed-but-unsent one-offs due again, in the database and (while we lead) in memory."""
        if not self._unreleased:
            return
        by_at: dict[datetime, list[ClockedEntry]] = {}
        for entry, at in self._unreleased:
            by_at.setdefault(at, []).append(entry)
        kept = []
        for at, entries in by_at.items():
            try:
                released = release(entries, at=at, lock_timeout_ms=WRITE_LOCK_TIMEOUT_MS)
            except (DatabaseError, InterfaceError) as exc:
                # The rows stay claimed (disabled): nobody sends them twice meanwhile; try again later.
                logger.warning("cannot release %d unsent one-offs yet (%r); will retry", len(entries), exc)
                kept += [(entry, at) for entry in entries]
                continue
            if self._lock.held:
                self._book.put_back([e for e in entries if e.pk in released], due=time.time() + SEND_RETRY)
            elif released:
                # Tell the leader (whose memory does not hold these) to re-read: they are due now.
                try:
                    PeriodicTasks.update_changed()
                except (DatabaseError, InterfaceError):
                    pass  # its next horizon read (at most HORIZON / 2 away) finds them
        self._unreleased = kept

    def sync(self) -> None:
        self._release_unsent()
        super().sync()
