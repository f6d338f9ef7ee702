"""Reading a delivery: size limit, signature over the raw body, JSON, GitHub's headers; a reason when refused."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.http import HttpRequest, UnreadablePostError

from webhooks.keys import secrets_for
from webhooks.signature import verify_signature

logger = logging.getLogger("nexus.webhooks")
T = TypeVar("T")

# Rejected deliveries per reason, for ops (the Deliveries admin shows them): a Redis hash, best effort.
REJECTED_KEY = "nexus:webhooks:rejected"
# Set while a drain task is queued or about to start: at most one publish per drain, not one per delivery.
# The drain deletes it before it looks for work, so a delivery stored after that publishes a new one.
DRAIN_FLAG = "nexus:webhooks:drain-queued"
DRAIN_FLAG_TTL = 10  # s: a lost drain message is replaced this soon (and Beat's sweep is the last net)
# GitHub's event names and delivery ids (GUIDs); anything else is refused before it reaches a column.
TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class Refused(Exception):
    """A delivery we do not store: the HTTP status, a counter reason, and the message the sender sees."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Incoming:
    delivery_id: str
    event: str
    action: str
    repository: str
    hook_id: int | None
    payload: dict[str, Any]
    text: str  # the raw body, decoded (stored as the payload without a second serialisation)


_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """This process's client for the receiver's own keys (counters, the drain flag); short timeouts."""
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    return _clients[url]


# After a Redis error this process leaves Redis alone for a moment: a delivery must not wait a connect
# timeout each time while it is down (stored rows are drained by the next drain anyone queues, or Beat's).
REDIS_BACKOFF = 2.0
_redis_down_until = 0.0


def redis_call(what: str, call: Callable[[redis.Redis], T]) -> T | None:
    """call(client), or None when Redis failed (logged) or failed a moment ago; never raises."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until:
        return None
    try:
        return call(redis_client())
    except (redis.RedisError, OSError) as exc:
        _redis_down_until = time.monotonic() + REDIS_BACKOFF
        logger.warning("redis unavailable for %s: %s", what, exc)
        return None


def count_rejection(reason: str) -> None:
    # A counter must never turn a 401 into a 500.
    redis_call("the refused-deliveries counter", lambda r: r.hincrby(REJECTED_KEY, reason, 1))


def rejection_counts() -> dict[str, int]:
    raw = redis_call("the refused-deliveries counter", lambda r: r.hgetall(REJECTED_KEY)) or {}
    return {k.decode(): int(v) for k, v in sorted(raw.items())}


def _reject_constant(name: str) -> None:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not valid JSON")


def _read_body(request: HttpRequest, limit: int) -> bytes:
    raw_length = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw_length)
    except ValueError:
        raise Refused(400, "bad_length", "Content-Length is not a number") from None
    if length < 0:
        raise Refused(400, "bad_length", "Content-Length is negative")
    if length > limit:
        raise Refused(413, "too_large", f"body over {limit} bytes")
    # Django's stream stops at Content-Length (absent: nothing is read); one byte more tells a lie.
    try:
        body = request.read(limit + 1)
    except UnreadablePostError:
        raise Refused(400, "unreadable", "the body could not be read (connection closed?)") from None
    if len(body) > limit:
        raise Refused(413, "too_large", f"body over {limit} bytes")
    return body


def read_delivery(request: HttpRequest) -> Incoming:
    """The verified delivery in this request, or Refused with the status and reason to answer."""
    body = _read_body(request, settings.NEXUS_WEBHOOK_MAX_BYTES)
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        raise Refused(401, "missing_signature", "missing X-Hub-Signature-256")
    payload: Any = None
    text = ""
    problem = ""
    try:
        text = body.decode("utf-8")
        payload = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        problem = f"body is not JSON: {exc}"[:200]
    # The payload names the repository whose secret signs it; a body that is not JSON is judged
    # against the default secret only, so an unsigned one is a 401 like any other.
    secrets = secrets_for(settings.NEXUS_GITHUB_WEBHOOK_SECRETS, payload)
    if not secrets:
        raise Refused(401, "no_secret", "no webhook secret is configured for this repository")
    if not any(verify_signature(secret, body, signature) for secret in secrets):
        raise Refused(401, "bad_signature", "X-Hub-Signature-256 does not match the body")
    if problem:
        raise Refused(400, "bad_json", problem)
    if not isinstance(payload, dict):
        raise Refused(400, "bad_json", "body is not a JSON object")
    if "\x00" in text or "\\u0000" in text:
        # PostgreSQL cannot store NUL in jsonb; GitHub never sends it.
        raise Refused(400, "bad_json", "body contains a NUL character")
    event = request.headers.get("X-GitHub-Event", "").strip()
    if not TOKEN_RE.match(event):
        raise Refused(400, "missing_event", "missing or malformed X-GitHub-Event")
    delivery_id = request.headers.get("X-GitHub-Delivery", "").strip()
    if not TOKEN_RE.match(delivery_id):
        raise Refused(400, "missing_delivery", "missing or malformed X-GitHub-Delivery")
    action = payload.get("action")
    repo = payload.get("repository")
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    hook = request.headers.get("X-GitHub-Hook-ID", "")
    return Incoming(
        delivery_id=delivery_id,
        event=event,
        action=action[:64] if isinstance(action, str) else "",
        repository=full_name[:140] if isinstance(full_name, str) else "",
        hook_id=int(hook) if hook.isdigit() and len(hook) < 19 else None,
        payload=payload,
        text=text,
    )
