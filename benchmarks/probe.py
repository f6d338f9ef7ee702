"""The benchmark's probe task: records in Redis when a worker started it (loaded with `worker -I`)."""

from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings

PROBE_TASK = "bench.probe"
STARTED_KEY = "bench:started"  # hash: entry name -> first start time (epoch seconds)
RUNS_KEY = "bench:runs"  # hash: entry name -> how many times it ran

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


@shared_task(name=PROBE_TASK)
def probe(cohort_id: int, event: str) -> None:
    """Stand-in for nexus.calendar.fire_event (same arguments): note the start time, do nothing else."""
    started = time.time()
    name = f"cohort-{cohort_id}:{event}"
    pipe = _redis().pipeline(transaction=False)
    pipe.hsetnx(STARTED_KEY, name, f"{started:.6f}")
    pipe.hincrby(RUNS_KEY, name, 1)
    pipe.execute()
