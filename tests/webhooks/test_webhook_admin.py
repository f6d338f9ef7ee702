"""The deliveries admin: the list staff read, "process again", refused-delivery counts; hooks and checks."""

from __future__ import annotations

import json

import pytest

from tests.webhooks.conftest import PAYLOADS, post
from webhooks.models import Delivery, Hook
from webhooks.services import delivery_drain

pytestmark = pytest.mark.django_db
URL = "/admin/webhooks/delivery/"


def test_the_list_shows_event_action_repository_state_and_error(client, admin_client):
    post(client, b'{"action": "completed", "check_run": {}}', event="check_run", delivery="d-broken")
    post(client, (PAYLOADS / "ping" / "payload.json").read_bytes(), event="ping", delivery="d-ping")
    delivery_drain(batch=10, budget=30)
    page = admin_client.get(URL).content.decode()
    assert "check_run" in page
    assert "completed" in page
    assert "Failed" in page
    assert "KeyError" in page
    assert "UTC" in page
    assert admin_client.get(URL, {"state__exact": "failed"}).content.decode().count("KeyError") == 1
    hooks = admin_client.get("/admin/webhooks/hook/").content.decode()
    assert str(Hook.objects.get().hook_id) in hooks
    assert admin_client.get("/admin/submissions/commitcheck/").status_code == 200
    assert admin_client.get("/admin/submissions/push/").status_code == 200


def test_process_again_requeues_and_runs_a_failed_delivery_once_its_cause_is_fixed(
    client, admin_client, redis_client
):
    # given a delivery that failed
    post(client, b'{"action": "completed", "check_run": {}}', event="check_run", delivery="d-broken")
    delivery_drain(batch=10, budget=30)
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.FAILED
    # when its payload is fixed (as a code fix would) and staff process it again
    payload = json.loads((PAYLOADS / "check_run" / "completed.payload.json").read_bytes())
    Delivery.objects.filter(pk=delivery.pk).update(payload=payload)
    response = admin_client.post(
        URL, {"action": "process_again", "_selected_action": [delivery.pk]}, follow=True
    )
    assert "1 delivery queued to be processed again." in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.error) == (Delivery.State.RECEIVED, "")
    # then the next drain processes it
    delivery_drain(batch=10, budget=30)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.outcome, delivery.attempts) == ("done", "handled", 2)


def test_staff_see_how_many_deliveries_were_refused_and_why(client, admin_client, redis_client):
    post(client, b"{}", secret="forged")
    post(client, b"{}", secret=None)
    page = admin_client.get(URL).content.decode()
    assert "Refused deliveries (never stored) so far: bad signature: 1, missing signature: 1." in page
    assert admin_client.get(URL + "add/").status_code == 403
