"""End to end: deliveries through the receiver, drained by a real worker on the github queue."""

from __future__ import annotations

import json
import uuid

import pytest

from submissions.models import CommitCheck, Push
from tests.conftest import wait_for
from tests.webhooks.conftest import PAYLOADS, post
from webhooks.models import Delivery

pytestmark = pytest.mark.e2e


def test_a_burst_of_deliveries_is_stored_once_and_processed_by_one_drain(
    transactional_db, client, celery_worker_process, redis_client
):
    # given a real worker, and a burst of check runs (one per commit), a push and a redelivery
    base = json.loads((PAYLOADS / "check_run" / "completed.payload.json").read_bytes())
    for i in range(30):
        base["check_run"]["head_sha"] = f"{i:040x}"
        assert post(client, json.dumps(base).encode(), delivery=f"burst-{i}").status_code == 202
    push = (PAYLOADS / "push" / "with-new-branch.payload.json").read_bytes()
    assert post(client, push, event="push", delivery="push-1").status_code == 202
    assert post(client, push, event="push", delivery="push-1").status_code == 200
    # then the worker processes every one of them, without a task per delivery
    wait_for(
        lambda: Delivery.objects.filter(state="done").count() == 31,
        timeout=60,
        what="31 deliveries processed",
        procs=[celery_worker_process],
    )
    assert CommitCheck.objects.count() == 30
    assert Push.objects.get().delivery_id == "push-1"
    log = celery_worker_process.log()
    # (the banner lists task names; "name[id]" is a task that ran)
    assert "nexus.github.drain_deliveries[" in log
    assert "nexus.github.process_delivery[" not in log
    # and a delivery after the drain finished queues a new drain that picks it up
    assert post(client, push, event="push", delivery=str(uuid.uuid4())).status_code == 202
    wait_for(
        lambda: Delivery.objects.filter(state="done").count() == 32,
        timeout=30,
        what="the late delivery processed",
        procs=[celery_worker_process],
    )
