"""Redelivery: the hook's failed deliveries we never stored are asked for again; off when not configured."""

from datetime import UTC, datetime

import pytest

from tasks import github_api
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

HOOK = "/orgs/acme/hooks/7"


def listed(id_, guid, status_code, status="OK", *, redelivery=False):
    return {
        "id": id_,
        "guid": guid,
        "status_code": status_code,
        "status": status,
        "redelivery": redelivery,
        "event": "check_run",
        "action": "completed",
        "delivered_at": "2026-12-01T11:00:00Z",
    }


@pytest.fixture
def configured(settings, fake_github, pinned_now):
    settings.GITHUB_HOOK_ID = 7
    settings.GITHUB_HOOK_OWNER = "acme"
    return fake_github


def test_only_failed_deliveries_we_never_stored_are_redelivered(configured):
    # given GitHub lists the hook's recent deliveries
    configured.deliveries[HOOK] = [
        listed(1, "ok", 200),
        listed(2, "failed-unstored", 500, "Invalid HTTP Response: 500"),
        listed(3, "failed-but-stored", 502, "Invalid HTTP Response: 502"),
        listed(4, "timed-out", 0, "timed out"),
        listed(5, "failed-then-redelivered", 503, "Invalid HTTP Response: 503"),
        listed(6, "failed-then-redelivered", 200, "OK", redelivery=True),
        listed(7, "refused-401", 401, "Invalid HTTP Response: 401"),
    ]
    # and we stored one of the failed ones after all (GitHub timed out, we had answered)
    Delivery.objects.create(
        delivery_id="failed-but-stored",
        event="check_run",
        received_at=datetime(2026, 12, 1, 11, tzinfo=UTC),
        payload={},
    )
    # when the redelivery task runs
    result = github_api.redeliver()
    # then GitHub is asked for exactly those that failed and we do not hold
    assert sorted(configured.redelivered) == [(HOOK, 2), (HOOK, 4), (HOOK, 7)]
    assert sorted(result["redelivered"]) == ["failed-unstored", "refused-401", "timed-out"]


def test_a_delivery_that_keeps_failing_is_not_asked_for_forever(configured):
    configured.deliveries[HOOK] = [
        listed(n, "hopeless", 500, "Invalid HTTP Response: 500") for n in range(1, 5)
    ]
    github_api.redeliver()
    assert configured.redelivered == []


def test_a_repository_hook_works_the_same(configured, settings):
    settings.GITHUB_HOOK_OWNER = "acme/capstone"
    configured.deliveries["/repos/acme/capstone/hooks/7"] = [
        listed(9, "g", 500, "Invalid HTTP Response: 500")
    ]
    github_api.redeliver()
    assert configured.redelivered == [("/repos/acme/capstone/hooks/7", 9)]


def test_redelivery_is_off_and_says_so_without_a_hook_id(settings, fake_github):
    settings.GITHUB_HOOK_ID = 0
    settings.GITHUB_HOOK_OWNER = ""
    result = github_api.redeliver()
    assert result["status"] == "off"
    assert "GITHUB_HOOK_ID" in result["reason"]
    assert fake_github.requests == []


def test_redelivery_is_off_without_a_token(settings, configured):
    settings.GITHUB_TOKEN = ""
    assert github_api.redeliver()["status"] == "off"
    assert configured.requests == []


def test_a_rate_limit_stops_redelivery_and_says_until_when(configured, pinned_now):
    configured.secondary_limit(120)
    result = github_api.redeliver()
    assert result["status"] == "rate_limited"
    assert result["until"] == "2026-12-01T12:02:00+00:00"
