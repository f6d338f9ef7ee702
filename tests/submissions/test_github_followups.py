"""After an effect commits, the firing task queues the GitHub work on the github queue (never inside it)."""

import json
from datetime import UTC, datetime

import pytest
import time_machine

from tasks import calendar

pytestmark = pytest.mark.django_db

OPENS = datetime(2027, 1, 4, 8, 0, 1, tzinfo=UTC)
CUTOFF = datetime(2027, 1, 11, 8, 0, 1, tzinfo=UTC)


def queued(redis_client, queue):
    return [json.loads(raw)["headers"]["task"] for raw in redis_client.lrange(queue, 0, -1)]


def test_an_open_window_queues_provisioning_and_a_cutoff_queues_the_ci_poll_after_commit(
    make_cohort, redis_client, django_capture_on_commit_callbacks
):
    cohort = make_cohort()
    # when Beat fires the window's opening
    with time_machine.travel(OPENS, tick=False), django_capture_on_commit_callbacks(execute=False) as pending:
        calendar.fire_event(cohort.pk, "open:p0")
        # then nothing is queued while the transaction is open
        assert queued(redis_client, "github") == []
    for callback in pending:
        callback()
    # and once it commits, provisioning waits on the github queue
    assert queued(redis_client, "github") == ["nexus.github.provision"]
    # when the cut-off fires
    redis_client.delete("github")
    with time_machine.travel(CUTOFF, tick=False), django_capture_on_commit_callbacks(execute=True):
        calendar.fire_event(cohort.pk, "close:p0")
    # then the CI poll of the graded commits follows
    assert "nexus.github.poll_ci" in queued(redis_client, "github")
