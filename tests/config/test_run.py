"""make run's supervisor: everything comes up, the login works, Ctrl-C leaves no process behind."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

from config import BASE_DIR

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every live process below pid (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def get(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(url)  # noqa: S310 - loopback only
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_make_run_serves_admin_and_flower_and_ctrl_c_stops_everything(tmp_path):
    # given the launcher with no REDIS_URL (so it starts its own Redis) and a fresh database file
    web, flower = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        SQLITE_PATH=str(tmp_path / "run.sqlite3"),
        NEXUS_ADMIN_PASSWORD="s3cret-for-the-test",
        FLOWER_BASIC_AUTH="ops:flower-pass",
    )
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.run", "--web-port", str(web), "--flower-port", str(flower)],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # when it has started
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and b"Nexus is up" not in (tmp_path / "run.log").read_bytes():
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        assert "Nexus is up" in output, output[-3000:]
        # then it printed the URLs and login, and they work
        assert f"http://127.0.0.1:{web}/admin/   login: admin / s3cret-for-the-test" in output
        assert f"http://127.0.0.1:{flower}/   login: ops / flower-pass" in output
        assert "embedded redis-server" in output
        assert "rehearsal cohort 'Demo rehearsal'" in output
        assert get(f"http://127.0.0.1:{web}/admin/login/") == 200
        assert get(f"http://127.0.0.1:{flower}/") == 401
        assert get(f"http://127.0.0.1:{flower}/", auth="ops:flower-pass") == 200
        children = descendants(proc.pid)
        assert len(children) >= 5  # redis, web, worker, Beat, Flower (and their shells and pool processes)
    finally:
        # when Ctrl-C reaches the foreground process group
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        log.close()
    # then nothing it started is left
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], (tmp_path / "run.log").read_text()[-3000:]
