"""A real HTTP server on loopback standing in for Slack/Discord webhooks: records each post, answers on cue."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"  # a scripted answer: read the post, then say nothing until the test ends


def pause(release: threading.Event, seconds: float) -> None:
    """Wait `seconds`, or less if released. Not Event.wait(timeout): under libfaketime (CI's pass with the
    clock 900 days ahead) its deadline is computed on the faked monotonic clock and the kernel waits on the
    real one, so it never times out; time.sleep is faked consistently."""
    end = time.monotonic() + seconds
    while not release.is_set() and time.monotonic() < end:
        time.sleep(0.01)


@dataclass
class Answer:
    status: int = 200
    body: str = "ok"  # what Slack answers; Discord answers 204 with no body
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow webhook)


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int]  # the client's address and port: one per TCP connection
    at: float = field(default_factory=time.monotonic)  # when it arrived (monotonic seconds)

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class ChatSink:
    """Keeps every post (path, headers, body); answers each path from its script, then 200 "ok"."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.posts: list[Post] = []
        self.script: dict[str, list[Answer | str]] = {}
        self.release = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real services offer

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                post = Post(
                    self.path, dict(self.headers.items()), self.rfile.read(length), self.client_address
                )
                with sink.lock:
                    sink.posts.append(post)
                    queued = sink.script.get(self.path) or []
                    answer = queued.pop(0) if queued else Answer()
                if answer == HANG:
                    pause(sink.release, 10)
                    return
                if answer.delay:
                    pause(sink.release, answer.delay)
                data = answer.body.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def to(self, path: str) -> list[Post]:
        with self.lock:
            return [post for post in self.posts if post.path == path]

    def answer(self, path: str, *answers: Answer | str) -> None:
        with self.lock:
            self.script.setdefault(path, []).extend(answers)

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
