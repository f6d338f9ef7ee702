"""\"Process again\" with the broker down answers with a message and leaves the delivery to the drain's sweep,
never a 500."""

from __future__ import annotations

import pytest

from tests.webhooks.conftest import post
from webhooks.models import Delivery
from webhooks.services import delivery_drain

# transactional_db: as in production (no ATOMIC_REQUESTS), the action's on-commit publish runs at once.
pytestmark = pytest.mark.django_db(transaction=True)


def test_process_again_with_the_broker_down_says_so_and_leaves_the_delivery_to_the_drain(
    client, admin_client, broker_down
):
    post(client, b'{"action": "completed", "check_run": {}}', event="check_run", delivery="d-broken")
    delivery_drain(batch=10, budget=30)
    delivery = Delivery.objects.get()
    response = admin_client.post(
        "/admin/webhooks/delivery/",
        {"action": "process_again", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The broker is unreachable right now" in page
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.RECEIVED  # the drain's Beat sweep takes it
