"""End to end: real worker and Beat processes on the real broker and database (no eager mode)."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from tasks.ops import PROBE_PREFIX, echo

pytestmark = pytest.mark.e2e


def test_task_round_trip_through_a_real_worker(celery_worker_process):
    # given a worker process on the broker
    # when a task is sent and we wait for its result
    result = echo.delay({"hello": "nexus"})
    # then the worker ran it and the result came back through the result backend
    assert result.get(timeout=30) == {"echo": {"hello": "nexus"}}
    assert "nexus.ops.echo" in celery_worker_process.log()


def test_clocked_one_off_entry_fires_on_the_worker(celery_worker_process, celery_beat_process, redis_client):
    # given Beat and a worker running, and a one-off entry created through the ORM while Beat runs
    due = datetime.now(tz=UTC) + timedelta(seconds=2)
    clocked = ClockedSchedule.objects.create(clocked_time=due)
    PeriodicTask.objects.create(
        name="e2e-one-off",
        task="nexus.ops.mark",
        clocked=clocked,
        one_off=True,
        args=json.dumps(["one-off"]),
    )
    # when we wait a few seconds
    deadline = time.monotonic() + 20
    fired = None
    while time.monotonic() < deadline and fired is None:
        fired = redis_client.get(PROBE_PREFIX + "one-off")
        time.sleep(0.2)
    # then the worker ran it, no earlier than its due time
    assert fired is not None, f"never fired; beat log:\n{celery_beat_process.log()[-3000:]}"
    assert float(fired) >= due.timestamp()
    assert "Sending due task e2e-one-off (nexus.ops.mark)" in celery_beat_process.log()
