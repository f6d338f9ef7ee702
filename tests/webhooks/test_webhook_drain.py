"""The drain: claims are exclusive, a claim whose worker died is taken back after the lease, batches and budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from tests.webhooks.conftest import post
from webhooks.models import Delivery
from webhooks.services import delivery_claim, delivery_drain
from webhooks.tasks import process_delivery

pytestmark = pytest.mark.django_db


def store(client, n: int) -> None:
    for i in range(n):
        assert post(client, b'{"zen": "x"}', event="watch", delivery=f"d-{i}").status_code == 202


def test_a_claim_is_exclusive_until_its_lease_runs_out(client, settings, pinned_now):
    store(client, 3)
    ids = list(Delivery.objects.order_by("id").values_list("id", flat=True))
    first = delivery_claim(limit=2)
    # a second drainer gets only what the first did not claim
    assert delivery_claim(limit=10) == ids[2:]
    assert delivery_claim(limit=10) == []
    # when the first drainer's worker died: still its rows until the lease runs out
    Delivery.objects.filter(pk=ids[2]).update(state=Delivery.State.DONE)
    lease = settings.NEXUS_WEBHOOK_LEASE
    with time_machine.travel(pinned_now + timedelta(seconds=lease - 1), tick=False):
        assert delivery_claim(limit=10) == []
    # then they are claimed again, the attempt counted
    with time_machine.travel(pinned_now + timedelta(seconds=lease + 1), tick=False):
        assert delivery_claim(limit=10) == first
    assert list(Delivery.objects.order_by("id").values_list("attempts", flat=True)) == [2, 2, 1]


def test_the_drain_processes_everything_in_batches_and_stops_on_its_budget(client):
    store(client, 7)
    counts, more = delivery_drain(batch=3, budget=0)
    # a zero budget still finishes the batch it claimed, then says there may be more
    assert (counts, more) == ({"done": 3}, True)
    counts, more = delivery_drain(batch=3, budget=60)
    assert (counts, more) == ({"done": 4}, False)
    assert set(Delivery.objects.values_list("state", flat=True)) == {"done"}


def test_process_delivery_runs_a_waiting_delivery_once(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the task body only; the worker runs it in tests/e2e
    store(client, 1)
    pk = Delivery.objects.get().pk
    assert process_delivery.apply(args=[pk]).get() == "done"
    assert process_delivery.apply(args=[pk]).get() == "not waiting"
    assert Delivery.objects.get().attempts == 1
