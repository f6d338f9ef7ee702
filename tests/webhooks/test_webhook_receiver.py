"""POST /webhooks/github/: what is stored and answered for good, forged, replayed, oversized and bad deliveries."""

from __future__ import annotations

import json
import uuid

import pytest

from submissions.models import CommitCheck, Push
from tests.webhooks.conftest import DEFAULT_SECRET, URL, body_of, example_payloads, post
from webhooks.models import Delivery, Hook
from webhooks.receiver import REJECTED_KEY
from webhooks.services import delivery_drain
from webhooks.signature import sign

pytestmark = pytest.mark.django_db


def rejected(redis_client, reason: str) -> int:
    return int(redis_client.hget(REJECTED_KEY, reason) or 0)


@pytest.mark.parametrize(("event", "path"), example_payloads(), ids=lambda v: getattr(v, "name", v))
def test_every_example_payload_is_accepted_stored_and_handled(client, event, path):
    # given one of GitHub's real payloads, signed with the default secret
    body = path.read_bytes()
    delivery_id = str(uuid.uuid5(uuid.NAMESPACE_URL, str(path)))
    # when GitHub delivers it
    response = post(client, body, event=event, delivery=delivery_id)
    # then it is acknowledged and stored as it came
    assert response.status_code == 202, response.content
    delivery = Delivery.objects.get(delivery_id=delivery_id)
    assert delivery.event == event
    assert delivery.payload == json.loads(body)
    assert delivery.state == Delivery.State.RECEIVED
    # and processing it succeeds, with a handler for each of these events
    delivery_drain(batch=10, budget=30)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.error) == (Delivery.State.DONE, "")
    expected = Delivery.Outcome.IGNORED if delivery.action == "requested_action" else Delivery.Outcome.HANDLED
    assert delivery.outcome == expected


def test_a_check_run_becomes_a_commit_check_and_a_push_a_push_received_when_it_reached_us(client, pinned_now):
    payloads = dict(example_payloads())
    check = json.loads((payloads["check_run"].parent / "completed.payload.json").read_bytes())
    push = json.loads((payloads["push"].parent / "with-new-branch.payload.json").read_bytes())
    post(client, body_of(check), event="check_run", delivery="d-check")
    post(client, body_of(push), event="push", delivery="d-push")
    delivery_drain(batch=10, budget=30)
    (row,) = CommitCheck.objects.all()
    assert (row.repository, row.sha, row.source, row.name, row.state) == (
        "Codertocat/Hello-World",
        check["check_run"]["head_sha"],
        "check_run",
        check["check_run"]["name"],
        "success",
    )
    (pushed,) = Push.objects.all()
    assert pushed.branch == push["ref"].removeprefix("refs/heads/")
    assert (pushed.after, pushed.delivery_id, pushed.received_at) == (push["after"], "d-push", pinned_now)


def test_a_ping_marks_its_hook_verified(client, pinned_now):
    body = (example_payloads()[0][1].parent.parent / "ping" / "with-organization.payload.json").read_bytes()
    post(
        client, body, event="ping", delivery="d-ping", HTTP_X_GITHUB_HOOK_ID=str(json.loads(body)["hook_id"])
    )
    delivery_drain(batch=10, budget=30)
    hook = Hook.objects.get(hook_id=json.loads(body)["hook_id"])
    assert hook.verified_at == pinned_now
    assert hook.kind == "Organization"
    assert Delivery.objects.get(delivery_id="d-ping").hook_id == hook.hook_id


def test_unknown_and_ignored_events_are_stored_answered_2xx_and_marked(client):
    post(client, b'{"action": "opened"}', event="pull_request", delivery="d-ignored")
    post(client, b'{"zen": "new"}', event="brand_new_event", delivery="d-unknown")
    delivery_drain(batch=10, budget=30)
    outcomes = dict(Delivery.objects.values_list("delivery_id", "outcome"))
    assert outcomes == {"d-ignored": "ignored", "d-unknown": "unsupported"}
    assert set(Delivery.objects.values_list("state", flat=True)) == {"done"}


def test_a_handler_error_fails_the_delivery_with_the_reason_and_answers_no_one_a_500(client):
    # given a signed check_run without the fields a check run has
    response = post(client, b'{"action": "completed", "check_run": {}}', event="check_run", delivery="d-bad")
    assert response.status_code == 202
    delivery_drain(batch=10, budget=30)
    delivery = Delivery.objects.get(delivery_id="d-bad")
    assert delivery.state == Delivery.State.FAILED
    assert "KeyError" in delivery.error
    assert delivery.attempts == 1


def test_a_redelivery_answers_200_and_stores_nothing_more(client, check_run_body):
    first = post(client, check_run_body, delivery="same-id")
    again = post(client, check_run_body, delivery="same-id")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"status": "duplicate", "delivery": "same-id"}
    assert Delivery.objects.count() == 1


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing_signature"),
        ("sha256=" + "0" * 64, "bad_signature"),
        (sign("not-our-secret", b"x"), "bad_signature"),
        ("sha1=abc", "bad_signature"),
    ],
)
def test_forged_deliveries_get_401_store_nothing_and_are_counted(
    client, redis_client, check_run_body, signature, reason
):
    response = post(client, check_run_body, secret=None, signature=signature)
    assert response.status_code == 401
    assert "error" in response.json()
    assert Delivery.objects.count() == 0
    assert rejected(redis_client, reason) == 1


def test_a_body_signed_with_another_secret_is_forged(client, check_run_body):
    assert post(client, check_run_body, secret="guess").status_code == 401
    assert Delivery.objects.count() == 0


def test_a_truncated_body_fails_its_signature(client, check_run_body):
    # given the signature of the whole body, and only part of the body
    signature = sign(DEFAULT_SECRET, check_run_body)
    response = post(client, check_run_body[:-100], secret=None, signature=signature)
    assert response.status_code == 401
    # and a Content-Length shorter than the body: only that much is read, which fails the same way
    response = post(client, check_run_body, signature=signature, CONTENT_LENGTH=str(len(check_run_body) - 1))
    assert response.status_code == 401
    assert Delivery.objects.count() == 0


def test_a_delivery_without_content_length_reads_nothing_and_is_refused(client, check_run_body):
    response = post(client, check_run_body, CONTENT_LENGTH="")
    assert response.status_code == 401


def test_a_chunked_delivery_gets_411_naming_it_not_a_forged_401(client, check_run_body, redis_client):
    # given a correctly signed delivery sent chunked (as a proxy may re-send it): no Content-Length
    response = post(client, check_run_body, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    # then the answer names the reason, and nothing is stored
    assert response.status_code == 411
    assert "chunked" in response.json()["error"]
    assert Delivery.objects.count() == 0
    assert rejected(redis_client, "length_required") == 1


def test_a_bad_content_length_is_a_400(client, check_run_body):
    assert post(client, check_run_body, CONTENT_LENGTH="lots").status_code == 400
    assert post(client, check_run_body, CONTENT_LENGTH="-5").status_code == 400


def test_an_oversized_body_gets_413_before_it_is_read(client, settings, redis_client):
    settings.NEXUS_WEBHOOK_MAX_BYTES = 1000
    body = body_of({"action": "completed", "pad": "x" * 2000})
    response = post(client, body)
    assert response.status_code == 413
    # and a body whose Content-Length claims less than it holds is cut at the limit, never stored
    response = post(client, body, CONTENT_LENGTH="900")
    assert response.status_code == 401
    assert Delivery.objects.count() == 0
    assert rejected(redis_client, "too_large") == 1


def test_a_body_just_at_the_limit_is_accepted(client, settings):
    body = body_of({"action": "completed", "pad": "x" * 100})
    settings.NEXUS_WEBHOOK_MAX_BYTES = len(body)
    assert post(client, body, event="watch").status_code == 202


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body is not JSON"),
        (b'{"a": ', "body is not JSON"),
        (b"\xff\xfe{}", "body is not JSON"),
        (b'{"a": NaN}', "body is not JSON"),
        (b'{"a": 1e400}', "out of range"),
        (b'{"a": -1e999}', "out of range"),
        (b"[1, 2]", "body is not a JSON object"),
        (b'{"a": "\\u0000"}', "NUL"),
    ],
)
def test_signed_bodies_that_are_not_a_json_object_get_400_with_the_reason(client, body, reason):
    response = post(client, body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert Delivery.objects.count() == 0


@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_a_missing_github_header_is_a_400_naming_it(client, check_run_body, header):
    headers = {
        "X-GitHub-Event": "check_run",
        "X-GitHub-Delivery": "d-1",
        "X-Hub-Signature-256": sign(DEFAULT_SECRET, check_run_body),
    }
    del headers[header]
    response = client.post(URL, data=check_run_body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert header in response.json()["error"]


def test_only_post_is_allowed_and_the_405_says_so(client):
    for response in (client.get(URL), client.put(URL, data=b"{}"), client.delete(URL)):
        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert "is not allowed" in response.json()["error"]


def test_during_a_rotation_both_secrets_of_an_organisation_are_accepted(client):
    # given the rotating-org's secrets (new, old) in the test settings
    body = body_of({"action": "completed", "organization": {"login": "Rotating-Org"}})
    repo_body = body_of({"repository": {"full_name": "rotating-org/r1"}, "action": "x"})
    # then either of them signs its deliveries, repositories included; the default secret does not
    assert post(client, body, event="watch", secret="rotating-new").status_code == 202
    assert post(client, body, event="watch", secret=b"rotating-old").status_code == 202
    assert post(client, repo_body, event="watch", secret="rotating-old").status_code == 202
    assert post(client, body, event="watch", secret=DEFAULT_SECRET).status_code == 401


def test_a_repository_secret_wins_over_its_owner_and_the_default(client):
    body = body_of({"repository": {"full_name": "octo-org/Special"}, "action": "x"})
    other = body_of({"repository": {"full_name": "octo-org/other"}, "action": "x"})
    assert post(client, body, event="watch", secret="special-secret").status_code == 202
    assert post(client, body, event="watch", secret=DEFAULT_SECRET).status_code == 401
    assert post(client, other, event="watch", secret=DEFAULT_SECRET).status_code == 202


def test_without_a_default_only_the_configured_scopes_are_accepted(client, settings):
    # given secrets for one organisation only (production may run so)
    settings.NEXUS_GITHUB_WEBHOOK_SECRETS = {"octo-org": ("org-secret",)}
    ours = body_of({"repository": {"full_name": "octo-org/hello"}, "action": "x"})
    theirs = body_of({"repository": {"full_name": "someone/else"}, "action": "x"})
    # then its deliveries are accepted, and any other is a 401 saying no secret is configured for it
    assert post(client, ours, event="watch", secret="org-secret").status_code == 202
    refused = post(client, theirs, event="watch", secret="org-secret")
    assert (refused.status_code, refused.json()["error"]) == (
        401,
        "no webhook secret is configured for this repository",
    )
    assert list(Delivery.objects.values_list("repository", flat=True)) == ["octo-org/hello"]


def test_with_no_secret_configured_every_delivery_is_refused(client, settings, check_run_body):
    settings.NEXUS_GITHUB_WEBHOOK_SECRETS = {}
    assert post(client, check_run_body).status_code == 401
    assert Delivery.objects.count() == 0


def test_with_redis_down_a_delivery_is_still_stored_and_acknowledged(
    client, settings, monkeypatch, check_run_body, django_capture_on_commit_callbacks
):
    # given a Redis nobody listens on (the drain flag, the counters)
    monkeypatch.setattr("webhooks.receiver._redis_down_until", 0.0)
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    # when deliveries arrive, good and forged
    with django_capture_on_commit_callbacks(execute=True):
        good = post(client, check_run_body, delivery="while-redis-is-down")
    forged = post(client, check_run_body, secret="forged")
    # then the good one is stored and acknowledged (Beat's sweep drains it), the forged one refused: no 500
    assert (good.status_code, forged.status_code) == (202, 401)
    assert Delivery.objects.get().delivery_id == "while-redis-is-down"


def test_a_json_string_holding_a_backslash_then_u0000_is_not_a_nul(client):
    # given a body whose string is the six characters \u0000 (an escaped backslash), not a NUL
    body = b'{"zen": "write \\\\u0000 to mean NUL"}'
    assert json.loads(body)["zen"] == "write \\u0000 to mean NUL"
    # then it is stored like any other
    assert post(client, body, event="watch").status_code == 202
    # while a real NUL, escaped after an escaped backslash, is still refused
    assert post(client, b'{"zen": "\\\\\\u0000"}', event="watch").status_code == 400


def test_a_payload_the_database_cannot_store_is_a_400_without_sql_in_the_reason(client):
    # given a lone surrogate (valid JSON; PostgreSQL's jsonb refuses it, SQLite stores it)
    response = post(client, b'{"zen": "\\ud800"}', event="watch")
    # then the answer is a 2xx or a one-line 400 that shows the sender none of our SQL
    assert response.status_code in (202, 400)
    if response.status_code == 400:
        error = response.json()["error"]
        assert error.startswith("payload cannot be stored")
        assert "\n" not in error
        assert "LINE" not in error
        assert "INSERT" not in error
