"""R5: thousands of random and mutated deliveries; none is accepted without a valid signature, none gets a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webhooks.conftest import DEFAULT_SECRET, PAYLOADS, URL
from webhooks.models import Delivery
from webhooks.signature import sign

pytestmark = pytest.mark.django_db

SEED = (PAYLOADS / "check_run" / "completed.payload.json").read_bytes()
HEADER_VALUES = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.sampled_from(
        ["sha256=", "sha256=" + "0" * 64, "sha1=00", sign("wrong", SEED), sign(DEFAULT_SECRET, SEED)]
    ),
)
EVENTS = st.one_of(
    st.none(), st.sampled_from(["check_run", "push", "ping", "status", "x" * 70]), st.text(max_size=20)
)


def mutate(body: bytes, data) -> bytes:
    """A byte flipped, a slice dropped, bytes inserted, or the body cut short."""
    kind = data.draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
    if not body:
        return b"x"
    at = data.draw(st.integers(0, len(body) - 1))
    if kind == "flip":
        return body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1 :]
    if kind == "drop":
        return body[:at] + body[at + data.draw(st.integers(1, 50)) :]
    if kind == "insert":
        return body[:at] + data.draw(st.binary(min_size=1, max_size=20)) + body[at:]
    return body[:at]


def headers_for(signature, event, delivery) -> dict[str, str]:
    headers = {}
    for name, value in (
        ("X-Hub-Signature-256", signature),
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", delivery),
    ):
        if value is not None:
            # WSGI headers are latin-1; what a client could not send is not a case to test.
            headers[name] = (
                value.encode("latin-1", "replace").decode("latin-1").replace("\r", "").replace("\n", "")
            )
    return headers


# No example database: CI starts clean, and the client fixture is stateless between examples (the
# database is not, so each example compares counts before and after).
FUZZ = settings(
    max_examples=1500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(
    data=st.data(), signature=HEADER_VALUES, event=EVENTS, delivery=st.one_of(st.none(), st.text(max_size=70))
)
def test_unsigned_or_forged_random_requests_are_never_stored_and_never_a_5xx(
    client, data, signature, event, delivery
):
    # given a body that is random bytes, a JSON document or a mutated real payload
    body = data.draw(
        st.one_of(
            st.binary(max_size=300),
            st.builds(lambda v: json.dumps(v).encode(), st.dictionaries(st.text(max_size=5), st.integers())),
            st.just(SEED).map(lambda b: mutate(b, data)),
        )
    )
    before = Delivery.objects.count()
    # when it is sent with whatever signature header (never the right one for this body)
    if signature == sign(DEFAULT_SECRET, body):
        signature = None
    response = client.post(
        URL, data=body, content_type="application/json", headers=headers_for(signature, event, delivery)
    )
    # then it is refused with a 4xx and nothing is stored
    assert 400 <= response.status_code < 500, response.content
    assert response.status_code in (400, 401, 413)
    assert Delivery.objects.count() == before


@FUZZ
@given(data=st.data(), event=EVENTS, delivery=st.one_of(st.none(), st.text(max_size=70)))
def test_signed_mutated_deliveries_are_answered_without_a_5xx_and_stored_only_when_valid(
    client, data, event, delivery
):
    # given a mutated real payload, correctly signed (a sender that holds the secret but sends junk)
    body = mutate(SEED, data)
    headers = headers_for(sign(DEFAULT_SECRET, body), event, delivery)
    before = Delivery.objects.count()
    # when it is delivered
    response = client.post(URL, data=body, content_type="application/json", headers=headers)
    # then the answer is 2xx (stored) or a 400 with the reason, never a 5xx
    assert response.status_code in (200, 202, 400), response.content
    stored = Delivery.objects.count() - before
    assert stored == (1 if response.status_code == 202 else 0)
    if response.status_code == 400:
        assert response.json()["error"]
