"""Beat's heartbeat in Redis: written each tick, read by /healthz."""

import time

import redis
from django.conf import settings


def beat(client: redis.Redis) -> None:
    # Expires on its own, so a Beat that died long ago leaves no stale "alive" key.
    client.set(
        settings.NEXUS_BEAT_HEARTBEAT_KEY, f"{time.time():.3f}", ex=settings.NEXUS_BEAT_HEARTBEAT_MAX_AGE * 10
    )
