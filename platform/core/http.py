"""The one outbound HTTP client factory: timeouts on every request, a bounded pool, and URL safety checks."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

# (connect, read) seconds: a slow or silent peer never holds a worker past these.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)


class _TimeoutSession(requests.Session):
    """A Session whose requests get the factory's timeout unless the caller passes one."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


def make_session(
    *,
    user_agent: str = "Nexus",
    pool: int = 10,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    headers: dict[str, str] | None = None,
) -> requests.Session:
    """One configured Session per client (chat webhooks, GitHub): pooled connections and a default timeout.

    Retries are the caller's: each client knows which answers are transient (and honours Retry-After);
    the transport itself never retries, so a POST is never repeated behind the caller's back.
    """
    session = _TimeoutSession(timeout)
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    if headers:
        session.headers.update(headers)
    return session


def retry_after_seconds(response: requests.Response, *, now: datetime | None = None) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(tz=UTC))).total_seconds(), 0.0)


class UnsafeURL(ValueError):
    """An outbound URL we refuse to call; the message says why (shown to staff as a form error)."""


def check_public_url(url: str, *, resolve: bool = True) -> None:
    """Refuse a URL that could reach inside our network (SSRF) or travel in clear in production.

    Settings: NEXUS_HTTP_REQUIRE_HTTPS (https only) and NEXUS_HTTP_ALLOW_PRIVATE (loopback and private
    addresses allowed: dev and tests only). With `resolve`, every address the host resolves to is
    checked, so a public name pointing at 127.0.0.1 is refused too (checked again right before sending).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"{url!r} is not an http(s) URL.")
    if getattr(settings, "NEXUS_HTTP_REQUIRE_HTTPS", True) and parts.scheme != "https":
        raise UnsafeURL("Only https:// URLs are allowed.")
    host = parts.hostname
    if not host:
        raise UnsafeURL(f"{url!r} has no host.")
    if parts.username or parts.password:
        raise UnsafeURL("A URL with a user name or password is not allowed.")
    if getattr(settings, "NEXUS_HTTP_ALLOW_PRIVATE", False):
        return
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeURL(f"The host {host!r} does not resolve: {exc}.") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise UnsafeURL(
                f"{host} resolves to {address}, a private, loopback or link-local address; "
                "only public addresses are allowed."
            )
