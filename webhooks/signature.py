"""GitHub's X-Hub-Signature-256: HMAC-SHA256 of the raw body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str | bytes, body: bytes) -> str:
    """The header value GitHub would send for this body (tests, the benchmark, the fake GitHub)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`."""
    if not header or not secret or not header.startswith(PREFIX):
        return False
    expected = sign(secret, body)
    # compare_digest on ASCII bytes: a str with non-ASCII characters would raise TypeError.
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace"))
