"""Helpers for the Beat adapter's tests: one-off entries, and what Beat published to the broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django_celery_beat.models import ClockedSchedule, PeriodicTask


def now() -> datetime:
    return datetime.now(tz=UTC)


def one_off(
    name: str, at: datetime, *, task: str = "nexus.ops.mark", queue: str = "calendar"
) -> PeriodicTask:
    return PeriodicTask.objects.create(
        name=name,
        task=task,
        clocked=ClockedSchedule.objects.create(clocked_time=at),
        one_off=True,
        args=json.dumps([name]),
        queue=queue,
    )


def sent(redis_client, queue: str = "calendar") -> list[str]:
    """Names of the Beat entries whose messages wait in a broker queue, oldest first."""
    messages = [json.loads(raw) for raw in reversed(redis_client.lrange(queue, 0, -1))]
    return [m["headers"]["periodic_task_name"] for m in messages]
