"""NexusScheduler: django-celery-beat's DatabaseScheduler plus a heartbeat each tick."""

import logging

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from schedules import heartbeat

logger = logging.getLogger("nexus.beat")


class NexusScheduler(DatabaseScheduler):
    """The database scheduler that also tells /healthz it is alive."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._redis = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)

    def tick(self, *args: object, **kwargs: object) -> float:
        try:
            heartbeat.beat(self._redis)
        except redis.RedisError as exc:
            logger.warning("cannot write the Beat heartbeat: %s", exc)
        return super().tick(*args, **kwargs)
