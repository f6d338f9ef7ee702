"""Shared fixtures: the pinned clock, the session's Redis, and real worker and Beat processes on it and
the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import hypothesis  # noqa: F401 - see below
import pytest
import redis as redis_lib
import time_machine
from django.conf import settings
from django.db import connection

from config import BASE_DIR, embedded

# Imported above, at collection, on purpose: hypothesis's pytest plugin otherwise imports it while printing
# the summary, and after an e2e test's worker threads CPython 3.11.7 can fail that import's assertion
# rewrite with "SystemError: AST constructor recursion depth mismatch" (seen running
# tests/e2e/test_github_poll_worker.py on its own).
from config.celery import app as celery_app

CELERY = str(Path(sys.executable).parent / "celery")


def use_redis(url: str) -> None:
    """Point this process (Django settings, the Celery app) and its future children at url."""
    os.environ["REDIS_URL"] = url
    settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
    # The app reads Django's settings lazily; if it has read them already, tell it too.
    celery_app.conf.update(broker_url=url, result_backend=url)


@pytest.fixture(scope="session", autouse=True)
def session_redis() -> Iterator[str]:
    """One Redis per test session: REDIS_URL from the environment (CI), else an embedded redis-server.

    Started here, not when settings are imported, so `django.setup()` with the test settings starts
    nothing; the session's own processes (worker, Beat) get its URL through process_env().
    """
    url = os.environ.get("REDIS_URL", "")
    server = None
    if not url:
        server = embedded.start(settings.RUN_DIR / f"test-redis-{os.getpid()}", scratch=True)
        url = server.url
    use_redis(url)
    yield url
    if server is not None:
        server.stop()
        os.environ.pop("REDIS_URL", None)


def wait_for(predicate, timeout: float, what: str, procs=(), *, every: float = 0.1) -> None:
    """Poll predicate until it holds; on timeout, fail showing the tail of each process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    logs = "\n".join(f"--- {p.name} ---\n{p.log()[-3000:]}" for p in procs)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def worker_argv(concurrency: int = 2) -> list[str]:
    """A real `celery -A config worker` on every Nexus queue (the queues settings declare)."""
    return [
        CELERY,
        "-A",
        "config",
        "worker",
        "-l",
        "INFO",
        "-Q",
        ",".join(settings.NEXUS_QUEUES),
        "-c",
        str(concurrency),
        "-n",
        f"test-{os.getpid()}-{concurrency}@%h",
        "--without-mingle",
        "--without-gossip",
    ]


# "Now" for every test that pins the clock (invariant 10, one clock): a Tuesday some weeks before the
# calendars the domain tests write in early 2027 (the first cohort starts Monday 2027-01-04), so each of
# those events is still in the future, whatever today's date is on the machine running the suite.
PINNED_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def pinned_now() -> Iterator[datetime]:
    """Freeze this process's clock at PINNED_NOW for one test, and give that instant to the test.

    time-machine patches datetime.now/utcnow, date.today, time.time and friends, so Django's
    timezone.now, the services, the admin, management commands and the test client all read PINNED_NOW.
    The clock does not tick: an instant computed from "now" is exact, and a test may assert on it.
    Only this process is pinned: the worker and Beat that tests/e2e starts read the real clock, so
    those tests must not use this fixture and write their dates relative to the real now instead.
    """
    with time_machine.travel(PINNED_NOW, tick=False):
        yield PINNED_NOW


def process_env() -> dict[str, str]:
    """Environment for a child process that must use this session's test database and Redis."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    env["REDIS_URL"] = settings.REDIS_URL
    env["PYTHONUNBUFFERED"] = "1"
    name = connection.settings_dict["NAME"]  # the test database's name once pytest-django made it
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = str(name)
    else:
        parts = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    return env


class Proc:
    """A child process whose output goes to a log file we can show when a test fails."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env=process_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never printed {text!r}; its log:\n{self.log()[-4000:]}")

    def stop(self, sig: int = 15) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, 9)
                self.popen.wait()
            except ProcessLookupError:
                pass
        self._log.close()


@pytest.fixture
def start_process(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []

    def start(name: str, argv: list[str]) -> Proc:
        proc = Proc(name, argv, tmp_path)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


@pytest.fixture
def redis_client() -> redis_lib.Redis:
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    return client


@pytest.fixture
def celery_worker_process(transactional_db: None, start_process: Callable[..., Proc], redis_client) -> Proc:
    """A real `celery -A config worker` on every Nexus queue, ready to take tasks."""
    worker = start_process("worker", worker_argv())
    worker.wait_for_line("ready.", timeout=60)
    return worker


@pytest.fixture
def celery_beat_process(transactional_db: None, start_process: Callable[..., Proc], redis_client) -> Proc:
    """A real `celery -A config beat` with Nexus's scheduler."""
    beat = start_process("beat", [CELERY, "-A", "config", "beat", "-l", "DEBUG"])
    beat.wait_for_line("beat: Starting...", timeout=60)
    return beat


@pytest.fixture
def app():
    return celery_app


@pytest.fixture
def broker_down():
    """Point the Celery app at a port where nothing listens (a real refused connection), then restore."""
    from config.celery import app

    names = ("broker_url", "broker_write_url", "broker_transport_options", "broker_connection_timeout")
    saved = {name: app.conf[name] for name in names}
    app._pool = None  # new connections (and producers) go to the URL set below; old ones are dropped
    app.amqp._producer_pool = None
    app.conf.update(
        broker_url="redis://127.0.0.1:9/0",
        broker_write_url="redis://127.0.0.1:9/0",
        broker_transport_options={**saved["broker_transport_options"], "max_retries": 0},
        broker_connection_timeout=1,
    )
    yield
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.update(saved)
