"""Operational probes: a result round trip, and a mark in Redis that proves a Beat entry fired."""

import time

import redis
from celery import shared_task
from django.conf import settings

from tasks.policy import IDEMPOTENT

PROBE_PREFIX = "nexus:probe:"


@shared_task(name="nexus.ops.echo", **IDEMPOTENT)
def echo(payload: dict) -> dict:
    """Return the payload, so a caller can prove a full broker -> worker -> result round trip."""
    return {"echo": payload}


@shared_task(name="nexus.ops.mark", **IDEMPOTENT)
def mark(key: str) -> float:
    """Record in Redis when this ran; ops (and the tests) schedule it to check Beat end to end."""
    now = time.time()
    redis.Redis.from_url(settings.REDIS_URL).set(PROBE_PREFIX + key, f"{now:.3f}", ex=3600)
    return now
