"""NexusScheduler: django-celery-beat's DatabaseScheduler, one active Beat (Redis lock), a heartbeat."""

import logging

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from schedules import heartbeat
from schedules.lock import BeatLock

logger = logging.getLogger("nexus.beat")

STANDBY_SLEEP = 1.0


class NexusScheduler(DatabaseScheduler):
    """The database scheduler, run by whichever Beat holds the lock; a standby only waits."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._redis = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        self._lock = BeatLock(self._redis, settings.NEXUS_BEAT_LOCK_KEY, settings.NEXUS_BEAT_LOCK_TTL)
        self._was_leader = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Renew well inside the lock's TTL, whatever Beat's own max interval is.
        self.max_interval = min(self.max_interval, settings.NEXUS_BEAT_LOCK_TTL / 3)

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
                self._initial_read = True
                self._heap = None
            self._was_leader = leader
        if not leader:
            return STANDBY_SLEEP
        try:
            heartbeat.beat(self._redis)
        except redis.RedisError as exc:
            logger.warning("cannot write the Beat heartbeat: %s", exc)
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        try:
            self._lock.release()
        except (redis.RedisError, AttributeError):
            pass
        super().close()
