"""Helpers for GitHub tests: example payloads signed as GitHub signs them, and the fake GitHub REST API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.webhooks.fakegithub import fake_github  # noqa: F401 - fixture
from webhooks.signature import sign

PAYLOADS = Path(__file__).parent / "payloads"
DEFAULT_SECRET = "test-default-secret"  # config/settings/test.py
URL = "/webhooks/github/"


def example_payloads() -> list[tuple[str, Path]]:
    """(event, file) for every example payload; the folder names the X-GitHub-Event."""
    return sorted((path.parent.name, path) for path in PAYLOADS.glob("*/*.json"))


def post(
    client,
    body: bytes,
    *,
    event: str = "check_run",
    delivery: str | None = None,
    secret: str | bytes | None = DEFAULT_SECRET,
    signature: str | None = None,
    url: str = URL,
    **extra: str,
):
    """POST a delivery as GitHub does; `signature` overrides the computed one, secret=None sends none."""
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return client.post(url, data=body, content_type="application/json", headers=headers, **extra)


def body_of(payload: dict) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture
def check_run_body() -> bytes:
    return (PAYLOADS / "check_run" / "completed.payload.json").read_bytes()
