"""The one outbound HTTP client factory: timeouts on every request, a bounded pool, and URL safety checks."""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

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


class _PublicPeer:
    """Connection mixin: the address actually connected to must be public (unless private ones are allowed).

    `check_public_url` resolves the host before a post, but the connection resolves it again: a DNS
    answer that changes in between (rebinding, a short TTL) would reach an inside address the check never
    saw. This looks at the socket's peer, after the connect and before a byte is sent.
    """

    host: str

    def _new_conn(self):  # type: ignore[no-untyped-def]
        sock = super()._new_conn()  # type: ignore[misc]
        if getattr(settings, "NEXUS_HTTP_ALLOW_PRIVATE", False):
            return sock
        try:
            peer = ipaddress.ip_address(sock.getpeername()[0])
        except (OSError, ValueError) as exc:
            sock.close()
            raise UnsafeURL(f"cannot tell which address {self.host} connected to: {exc}") from exc
        if not _public(peer):
            sock.close()
            raise UnsafeURL(
                f"{self.host} connected to {peer}, a private, loopback or link-local address (its DNS answer "
                "changed after the check); only public addresses are allowed."
            )
        return sock


class _PublicHTTPConnection(_PublicPeer, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicPeer, HTTPSConnection):
    pass


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    """Connects only to public addresses (see _PublicPeer). Proxies from the environment are not used by
    such a session (a proxy would be the peer, and the target unchecked)."""

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPConnectionPool,
            "https": _PublicHTTPSConnectionPool,
        }


def make_session(
    *,
    user_agent: str = "Nexus",
    pool: int = 10,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    headers: dict[str, str] | None = None,
    public_only: bool = False,
) -> requests.Session:
    """One configured Session per client (chat webhooks, GitHub): pooled connections and a default timeout.

    Retries are the caller's: each client knows which answers are transient (and honours Retry-After);
    the transport itself never retries, so a POST is never repeated behind the caller's back.

    `public_only` (URLs that staff or learners typed: chat webhooks) refuses, with UnsafeURL, a connection
    whose peer address is not public, whatever DNS said at the time of `check_public_url`; such a session
    ignores proxy settings from the environment.
    """
    session = _TimeoutSession(timeout)
    adapter_cls = _PublicOnlyAdapter if public_only else HTTPAdapter
    adapter = adapter_cls(pool_connections=pool, pool_maxsize=pool, max_retries=0)
    if public_only:
        session.trust_env = False
        # trust_env also carried the CA bundle variables: keep honouring them.
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
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
        if not _public(address):
            raise UnsafeURL(
                f"{host} resolves to {address}, a private, loopback or link-local address; "
                "only public addresses are allowed."
            )


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally routable unicast address. An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4,
    Teredo, NAT64) is judged by that IPv4 address too, so none of them is a way round the check."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
        if address in _NAT64:
            inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(v4 is not None and not _public(v4) for v4 in inner):
            return False
        if address.ipv4_mapped is not None:
            return _public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast
