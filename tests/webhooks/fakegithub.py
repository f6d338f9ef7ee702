"""A fake GitHub REST API: a real HTTP server on loopback with ETags, rate limits, hooks and templates."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

TOKEN = "fake-github-token"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    """State and knobs of the fake; tests set these and read `requests`."""

    token: str = TOKEN
    limit: int = 5000
    remaining: int = 5000
    reset: int = 0  # epoch seconds; 0: an hour from the first request
    delay: float = 0.0  # seconds before answering (timeouts)
    statuses: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    check_runs: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    deliveries: dict[str, list[dict]] = field(default_factory=dict)  # hook path -> deliveries
    redelivered: list[tuple[str, int]] = field(default_factory=list)
    repos: dict[str, dict] = field(default_factory=dict)
    collaborators: dict[str, set[str]] = field(default_factory=dict)
    forced: list[tuple[int, dict[str, str], dict]] = field(default_factory=list)  # next answers
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- knobs ------------------------------------------------------------------------------------

    def add_template(self, full_name: str) -> None:
        self.repos[full_name] = _repo(full_name, template=True)

    def fail_next(self, status: int, *, headers: dict[str, str] | None = None, body: dict | None = None):
        """The next request (whatever it is) gets this answer instead."""
        self.forced.append((status, headers or {}, body or {"message": "forced"}))

    def secondary_limit(self, retry_after: int) -> None:
        self.fail_next(
            403,
            headers={"Retry-After": str(retry_after)},
            body={"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
        )

    def add_check_run(self, repo: str, sha: str, name: str, *, status="completed", conclusion="success"):
        runs = self.check_runs.setdefault((repo, sha), [])
        runs.append(
            {
                "id": 1000 + len(runs) + sum(len(v) for v in self.check_runs.values()),
                "name": name,
                "head_sha": sha,
                "status": status,
                "conclusion": conclusion if status == "completed" else None,
                "started_at": "2026-11-30T10:00:00Z",
                "completed_at": "2026-11-30T10:05:00Z" if status == "completed" else None,
            }
        )

    def seen(self, method: str | None = None, path: str | None = None) -> list[Received]:
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    # --- the API ----------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict, body: Any) -> tuple[int, dict, Any]:
        if self.forced:
            return self.forced.pop(0)
        routes = [
            ("GET", r"/repos/([^/]+/[^/]+)/commits/([^/]+)/status", self._status),
            ("GET", r"/repos/([^/]+/[^/]+)/commits/([^/]+)/check-runs", self._check_runs),
            ("GET", r"(/(?:repos/[^/]+/[^/]+|orgs/[^/]+)/hooks/\d+)/deliveries", self._deliveries),
            (
                "POST",
                r"(/(?:repos/[^/]+/[^/]+|orgs/[^/]+)/hooks/\d+)/deliveries/(\d+)/attempts",
                self._redeliver,
            ),
            ("POST", r"/repos/([^/]+/[^/]+)/generate", self._generate),
            ("PUT", r"/repos/([^/]+/[^/]+)/collaborators/([^/]+)", self._collaborator),
            ("GET", r"/repos/([^/]+/[^/]+)", self._repo),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                return handler(*match.groups(), query=query, body=body)
        return 404, {}, {"message": "Not Found"}

    def _status(self, repo, sha, **_):
        statuses = self.statuses.get((repo, sha), [])
        states = {s["state"] for s in statuses}
        state = (
            "failure"
            if states & {"failure", "error"}
            else "pending"
            if "pending" in states or not statuses
            else "success"
        )
        return 200, {}, {"state": state, "sha": sha, "total_count": len(statuses), "statuses": statuses}

    def _check_runs(self, repo, sha, *, query, **_):
        runs = self.check_runs.get((repo, sha), [])
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = runs[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(runs):
            nxt = f"{self.url}/repos/{repo}/commits/{sha}/check-runs?per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, headers, {"total_count": len(runs), "check_runs": chunk}

    def _deliveries(self, hook, **_):
        return 200, {}, self.deliveries.get(hook, [])

    def _redeliver(self, hook, delivery_id, **_):
        self.redelivered.append((hook, int(delivery_id)))
        return 202, {}, {}

    def _generate(self, template, *, body, **_):
        if template not in self.repos:
            return 404, {}, {"message": "Not Found"}
        full_name = f"{body['owner']}/{body['name']}"
        if full_name in self.repos:
            return (
                422,
                {},
                {
                    "message": "Unprocessable Entity",
                    "errors": ["Could not clone: Name already exists on this account"],
                },
            )
        self.repos[full_name] = _repo(full_name, private=bool(body.get("private")))
        return 201, {}, self.repos[full_name]

    def _collaborator(self, repo, login, **_):
        if repo not in self.repos:
            return 404, {}, {"message": "Not Found"}
        members = self.collaborators.setdefault(repo, set())
        if login in members:
            return 204, {}, None
        members.add(login)
        return 201, {}, {"id": len(members), "invitee": {"login": login}}

    def _repo(self, repo, **_):
        if repo not in self.repos:
            return 404, {}, {"message": "Not Found"}
        return 200, {}, self.repos[repo]


def _repo(full_name: str, *, private: bool = True, template: bool = False) -> dict:
    owner, name = full_name.split("/")
    return {
        "id": int(hashlib.sha256(full_name.encode()).hexdigest()[:8], 16),
        "name": name,
        "full_name": full_name,
        "owner": {"login": owner},
        "private": private,
        "is_template": template,
        "html_url": f"https://github.example/{full_name}",
        "default_branch": "main",
    }


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _serve(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            query = parse_qs(parts.query)
            with fake._lock:
                fake.requests.append(
                    Received(self.command, parts.path, query, {k: v for k, v in self.headers.items()}, body)
                )
            if fake.delay:
                time.sleep(fake.delay)
            if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                return self._send(401, {}, {"message": "Bad credentials"})
            with fake._lock:
                if not fake.reset:
                    fake.reset = int(time.time()) + 3600
                if fake.remaining <= 0 and not fake.forced:
                    return self._send(
                        403,
                        self._limits(),
                        {"message": "API rate limit exceeded for user."},
                    )
                status, headers, payload = fake.answer(self.command, parts.path, query, body)
            text = json.dumps(payload).encode() if payload is not None else b""
            etag = f'"{hashlib.sha256(text).hexdigest()[:20]}"'
            if self.command == "GET" and status == 200:
                headers = {**headers, "ETag": etag}
                if self.headers.get("If-None-Match") == etag:
                    # A 304 does not count against the rate limit.
                    return self._send(304, {**headers, **self._limits()}, None)
            if status < 400 or status in (403, 429, 422, 404):
                with fake._lock:
                    if "Retry-After" not in headers:
                        fake.remaining = max(fake.remaining - 1, 0)
            return self._send(status, {**self._limits(), **headers}, payload)

        def _limits(self) -> dict[str, str]:
            return {
                "X-RateLimit-Limit": str(fake.limit),
                "X-RateLimit-Remaining": str(fake.remaining),
                "X-RateLimit-Reset": str(fake.reset),
            }

        def _send(self, status: int, headers: dict, payload: Any):
            text = json.dumps(payload).encode() if payload is not None and status != 304 else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if text:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if text:
                self.wfile.write(text)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def serve(host: str = "127.0.0.1", port: int = 0) -> tuple[FakeGitHub, ThreadingHTTPServer]:
    """Start a fake GitHub in a background thread; stop it with server.shutdown()."""
    fake = FakeGitHub()
    server = ThreadingHTTPServer((host, port), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="fake-github", daemon=True).start()
    return fake, server


@pytest.fixture
def fake_github(settings) -> Iterator[FakeGitHub]:
    """A fake GitHub on 127.0.0.1, and settings pointing the client at it (token, API URL)."""
    from webhooks import client

    fake, server = serve()
    settings.GITHUB_API_URL = fake.url
    settings.GITHUB_TOKEN = fake.token
    client.reset_client()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        client.reset_client()


if __name__ == "__main__":
    # For a demo: `python -m tests.webhooks.fakegithub 8765`, then GITHUB_API_URL=http://127.0.0.1:8765
    # and GITHUB_TOKEN=fake-github-token; templates named in the arguments after the port exist.
    import sys

    fake, server = serve(port=int(sys.argv[1]) if len(sys.argv) > 1 else 8765)
    for template in sys.argv[2:]:
        fake.add_template(template)
    print(f"fake GitHub at {fake.url} (token {fake.token})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
