"""GitHub's REST API over one pooled session: conditional GETs with an ETag cache, rate limits, typed errors."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import redis
import requests
from django.conf import settings

from core import clock
from core.http import make_session, retry_after_seconds

logger = logging.getLogger("nexus.github")

T = TypeVar("T")
R = TypeVar("R")

API_VERSION = "2022-11-28"
PER_PAGE = 100
# Pages followed for one listing: a commit with more than 1,000 check runs, or more than 1,000 recent
# hook deliveries, is not a case worth unbounded requests.
MAX_PAGES = 10


class GitHubError(Exception):
    """Any failure talking to GitHub; `status` is the HTTP status when there was an answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Transient(GitHubError):
    """Worth trying again soon: a timeout, a dropped connection, a 5xx."""


class Permanent(GitHubError):
    """Trying again will not help until something changes (a 4xx: not found, no access, invalid)."""


class Unauthorized(Permanent):
    """GitHub refused the token (401): no request will succeed until it is replaced."""


class AlreadyExists(Permanent):
    """A repository of that name already exists (422 on generate)."""


class RateLimited(GitHubError):
    """GitHub asked us to wait (primary or secondary limit), or we stopped before using the last calls."""

    def __init__(self, message: str, *, until: datetime, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.until = until


@dataclass(frozen=True)
class Hook:
    """A webhook: an organisation's (`owner` only) or a repository's (`owner/name`)."""

    owner: str
    hook_id: int

    @property
    def path(self) -> str:
        if "/" in self.owner:
            return f"/repos/{self.owner}/hooks/{self.hook_id}"
        return f"/orgs/{self.owner}/hooks/{self.hook_id}"


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any
    headers: dict[str, str]
    cached: bool = False  # a 304 served from the ETag cache


class Store:
    """Where ETags, cached bodies and the "blocked until" instant live, shared by every worker process."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int) -> None:
        self.redis, self.prefix, self.ttl = client, prefix, ttl

    def cached(self, url: str) -> tuple[str, Any] | None:
        raw = self.redis.get(self._key("etag", url))
        if raw is None:
            return None
        entry = json.loads(raw)
        return entry["etag"], entry["body"]

    def remember(self, url: str, etag: str, body: Any) -> None:
        self.redis.set(self._key("etag", url), json.dumps({"etag": etag, "body": body}), ex=self.ttl)

    def blocked_until(self) -> datetime | None:
        raw = self.redis.get(self._key("blocked"))
        return datetime.fromtimestamp(float(raw), tz=UTC) if raw else None

    def block(self, until: datetime) -> None:
        seconds = max(int((until - clock.now()).total_seconds()) + 1, 1)
        # Keep the later of two blocks (a secondary limit inside a primary one).
        current = self.blocked_until()
        if current is None or until > current:
            self.redis.set(self._key("blocked"), str(until.timestamp()), ex=seconds)

    def _key(self, kind: str, url: str = "") -> str:
        digest = hashlib.sha256(url.encode()).hexdigest()[:32] if url else ""
        return f"{self.prefix}:{kind}:{digest}" if digest else f"{self.prefix}:{kind}"


class GitHubClient:
    """The one GitHub REST client. Tasks call it and hand its answers to services; the domain never does.

    Each request waits for a slot (bounded concurrency), refuses to go while a rate limit is in force
    (RateLimited, with the instant to come back), and keeps `floor` calls of the hourly budget unused,
    so a burst of polling never leaves the webhooks' follow-up work without calls.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        store: Store,
        concurrency: int = 4,
        floor: int = 50,
        timeout: tuple[float, float] = (3.05, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.concurrency = max(concurrency, 1)
        self.floor = max(floor, 0)
        self.session = session or make_session(
            user_agent="Nexus", pool=self.concurrency, timeout=timeout, headers=headers
        )
        self._slots = threading.BoundedSemaphore(self.concurrency)

    # --- the one request path -------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, params: dict | None = None, body: dict | None = None
    ) -> Answer:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        if params:
            url = requests.Request("GET", url, params=params).prepare().url or url
        until = self.store.blocked_until()
        if until is not None and until > clock.now():
            raise RateLimited(f"GitHub rate limit in force until {until.isoformat()}", until=until)
        headers = {}
        cached = self.store.cached(url) if method == "GET" else None
        if cached is not None:
            headers["If-None-Match"] = cached[0]
        with self._slots:
            try:
                response = self.session.request(method, url, json=body, headers=headers)
            except requests.Timeout as exc:
                raise Transient(f"{method} {path}: timed out ({exc})") from exc
            except requests.ConnectionError as exc:
                raise Transient(f"{method} {path}: connection failed ({exc})") from exc
        self._note_budget(response)
        if response.status_code == 304 and cached is not None:
            return Answer(304, cached[1], dict(response.headers), cached=True)
        if response.status_code in (403, 429):
            self._raise_if_limited(method, path, response)
        if response.status_code >= 500:
            raise Transient(f"{method} {path}: {_reason(response)}", status=response.status_code)
        if response.status_code >= 400:
            if response.status_code == 401:
                raise Unauthorized(f"{method} {path}: {_reason(response)}", status=401)
            if response.status_code == 422 and "already exist" in response.text.lower():
                raise AlreadyExists(f"{method} {path}: {_reason(response)}", status=422)
            raise Permanent(f"{method} {path}: {_reason(response)}", status=response.status_code)
        data = response.json() if response.content else None
        etag = response.headers.get("ETag")
        if method == "GET" and etag:
            self.store.remember(url, etag, data)
        return Answer(response.status_code, data, dict(response.headers))

    def _note_budget(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining", "")
        reset = response.headers.get("X-RateLimit-Reset", "")
        if remaining.isdigit() and reset.isdigit() and int(remaining) <= self.floor:
            until = datetime.fromtimestamp(int(reset), tz=UTC)
            if until > clock.now():
                logger.warning("GitHub budget at %s calls; pausing until %s", remaining, until.isoformat())
                self.store.block(until)

    def _raise_if_limited(self, method: str, path: str, response: requests.Response) -> None:
        wait = retry_after_seconds(response, now=clock.now())
        if wait is not None:  # a secondary limit (or any limit GitHub names a wait for)
            until = clock.now() + timedelta(seconds=wait)
        elif response.headers.get("X-RateLimit-Remaining") == "0":
            reset = response.headers.get("X-RateLimit-Reset", "")
            until = (
                datetime.fromtimestamp(int(reset), tz=UTC)
                if reset.isdigit()
                else clock.now() + timedelta(minutes=1)
            )
        elif "rate limit" in response.text.lower():
            # A secondary limit without Retry-After: GitHub says wait at least a minute.
            until = clock.now() + timedelta(minutes=1)
        else:
            return  # a plain 403: no access (Permanent, raised by the caller)
        self.store.block(until)
        raise RateLimited(
            f"{method} {path}: {_reason(response)}; retry after {until.isoformat()}",
            until=until,
            status=response.status_code,
        )

    def _pages(self, path: str, *, key: str | None, params: dict | None = None) -> list[Any]:
        items: list[Any] = []
        url: str | None = path
        query: dict | None = {"per_page": PER_PAGE, **(params or {})}
        for _ in range(MAX_PAGES):
            if url is None:
                break
            answer = self.request("GET", url, params=query)
            page = answer.data[key] if key else answer.data
            items.extend(page or [])
            url, query = _next_link(answer.headers), None  # the next link carries the query
        return items

    # --- what Nexus asks ------------------------------------------------------------------------

    def combined_status(self, repository: str, ref: str) -> dict:
        """GET /repos/{o}/{r}/commits/{ref}/status: the commit statuses (latest per context)."""
        return self.request("GET", f"/repos/{repository}/commits/{quote(ref)}/status").data

    def check_runs(self, repository: str, ref: str) -> list[dict]:
        """GET /repos/{o}/{r}/commits/{ref}/check-runs, every page."""
        return self._pages(f"/repos/{repository}/commits/{quote(ref)}/check-runs", key="check_runs")

    def commit_checks(self, repository: str, ref: str) -> tuple[dict, list[dict]]:
        return self.combined_status(repository, ref), self.check_runs(repository, ref)

    def hook_deliveries(self, hook: Hook) -> list[dict]:
        """The hook's recent deliveries (newest first), as GitHub lists them."""
        return self._pages(f"{hook.path}/deliveries", key=None)

    def redeliver(self, hook: Hook, delivery_id: int) -> None:
        self.request("POST", f"{hook.path}/deliveries/{delivery_id}/attempts")

    def repository(self, full_name: str) -> dict:
        return self.request("GET", f"/repos/{full_name}").data

    def generate(self, template: str, *, owner: str, name: str, private: bool = True) -> dict:
        """Create owner/name from the template (201); AlreadyExists when the name is taken."""
        body = {"owner": owner, "name": name, "private": private, "include_all_branches": False}
        return self.request("POST", f"/repos/{template}/generate", body=body).data

    def add_collaborator(self, full_name: str, login: str, *, permission: str = "push") -> int:
        """Invite (201) or confirm (204) a collaborator; returns the status."""
        return self.request(
            "PUT", f"/repos/{full_name}/collaborators/{quote(login)}", body={"permission": permission}
        ).status

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[tuple[T, R | GitHubError]]:
        """Run fn over items at most `concurrency` at a time; a GitHubError is returned, not raised,
        except RateLimited, which stops the batch (the items not yet run are not tried)."""
        items = list(items)
        results: list[tuple[T, R | GitHubError]] = []
        stop: list[RateLimited] = []

        def one(item: T) -> tuple[T, R | GitHubError] | None:
            if stop:
                return None
            try:
                return item, fn(item)
            except RateLimited as exc:
                stop.append(exc)
                return None
            except GitHubError as exc:
                return item, exc

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="github") as pool:
            results = [r for r in pool.map(one, items) if r is not None]
        if stop:
            raise PartialRateLimited(stop[0], results)
        return results


class PartialRateLimited(RateLimited):
    """A batch stopped by a rate limit; `done` holds what was fetched before it."""

    def __init__(self, cause: RateLimited, done: list) -> None:
        super().__init__(str(cause), until=cause.until, status=cause.status)
        self.done = done


def _reason(response: requests.Response) -> str:
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = response.text[:200]
    return f"{response.status_code} {message}".strip()


def _next_link(headers: dict[str, str]) -> str | None:
    for part in headers.get("Link", "").split(","):
        section = part.split(";")
        if len(section) > 1 and 'rel="next"' in section[1]:
            return section[0].strip().strip("<>")
    return None


_client: GitHubClient | None = None
_client_lock = threading.Lock()


def configured() -> bool:
    return bool(settings.GITHUB_TOKEN)


def client() -> GitHubClient:
    """This process's client (one session, one pool), built from settings on first use."""
    global _client
    with _client_lock:
        if _client is None:
            _client = GitHubClient(
                base_url=settings.GITHUB_API_URL,
                token=settings.GITHUB_TOKEN,
                store=Store(
                    redis.Redis.from_url(settings.REDIS_URL),
                    prefix=f"nexus:github:{_identity()}",
                    ttl=settings.NEXUS_GITHUB_ETAG_TTL,
                ),
                concurrency=settings.NEXUS_GITHUB_CONCURRENCY,
                floor=settings.NEXUS_GITHUB_RATE_FLOOR,
                timeout=(settings.NEXUS_GITHUB_CONNECT_TIMEOUT, settings.NEXUS_GITHUB_READ_TIMEOUT),
            )
        return _client


def _identity() -> str:
    """One cache and one rate-limit budget per API server and token."""
    seed = f"{settings.GITHUB_API_URL}|{settings.GITHUB_TOKEN}".encode()
    return hashlib.sha256(seed).hexdigest()[:12]


def reset_client() -> None:
    """Forget the process's client (tests that change settings, or a worker after fork)."""
    global _client
    with _client_lock:
        _client = None
