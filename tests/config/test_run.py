"""make run's supervisor: everything comes up, the login works, a program that dies is restarted, a crash
loop makes it give up, and Ctrl-C leaves no process behind."""

import os
import re
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
from celery import Celery

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


def launch(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path, int, int]:
    """`make run` (python -m config.run) with its own Redis, a fresh database file and its logs in tmp_path."""
    web, flower = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        SQLITE_PATH=str(tmp_path / "run.sqlite3"),
        NEXUS_ADMIN_PASSWORD="s3cret-for-the-test",
        FLOWER_BASIC_AUTH="ops:flower-pass",
    )
    output = tmp_path / "run.log"
    with output.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "config.run", "--web-port", str(web), "--flower-port", str(flower)]
            + ["--log-dir", str(tmp_path / "log"), *extra],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, output, web, flower


def wait_until_up(proc: subprocess.Popen, output: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and b"Nexus is up" not in output.read_bytes():
        assert proc.poll() is None, output.read_text()
        time.sleep(0.5)
    text = output.read_text()
    assert "Nexus is up" in text, text[-3000:]
    return text


def ctrl_c_leaves_nothing(proc: subprocess.Popen, output: Path, children: set[int]) -> None:
    """Ctrl-C (SIGINT to the foreground process group) stops make run and every process it started."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], output.read_text()[-3000:]


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def program_pid(supervisor: int, program: str) -> int | None:
    """The pid of the `celery ... <program>` process the supervisor started (its child, not a pool process)."""
    for pid in descendants(supervisor):
        argv = cmdline(pid)
        if program in argv and any(arg.endswith("celery") for arg in argv) and parent(pid) == supervisor:
            return pid
    return None


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def wait_for(predicate, what: str, output: Path, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"never saw {what}; make run printed:\n{output.read_text()[-4000:]}")


def test_make_run_serves_admin_and_flower_and_ctrl_c_stops_everything(tmp_path):
    # given the launcher with no REDIS_URL (so it starts its own Redis) and a fresh database file
    proc, log, web, flower = launch(tmp_path)
    children: set[int] = set()
    try:
        # when it has started
        output = wait_until_up(proc, log)
        # then it printed the URLs and login, and they work
        assert f"http://127.0.0.1:{web}/admin/   login: admin / s3cret-for-the-test" in output
        assert f"http://127.0.0.1:{flower}/   login: ops / flower-pass" in output
        assert "embedded redis-server" in output
        assert "rehearsal cohort 'Demo rehearsal'" in output
        assert get(f"http://127.0.0.1:{web}/admin/login/") == 200
        assert get(f"http://127.0.0.1:{flower}/") == 401
        assert get(f"http://127.0.0.1:{flower}/", auth="ops:flower-pass") == 200
        children = descendants(proc.pid)
        assert len(children) >= 5  # redis, web, worker, Beat, Flower (and their pool processes)
        # and each program's output is prefixed with its name, and copied to its log file
        assert "web    | " in output
        worker_log = tmp_path / "log" / "worker.log"
        wait_for(lambda: "Connected to redis://" in worker_log.read_text(), "the worker's log file", log)
        # and the links the worker puts in emails (feed sign-in, unsubscribe) point at this run's web port
        worker = wait_for(lambda: program_pid(proc.pid, "worker"), "the worker process", log)
        environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
        assert f"NEXUS_PUBLIC_URL=http://127.0.0.1:{web}".encode() in environ
    finally:
        # when Ctrl-C reaches the foreground process group
        # then nothing it started is left
        ctrl_c_leaves_nothing(proc, log, children)
    # and it is a clean stop: exit status 0, and it says everything stopped
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert "web, worker, Beat and Flower stopped" in log.read_text()
    assert "embedded redis-server stopped" in log.read_text()


def test_a_killed_worker_is_restarted_and_takes_tasks_again(tmp_path):
    # given make run, up, with its worker
    proc, log, _web, flower = launch(tmp_path)
    children: set[int] = set()
    try:
        output = wait_until_up(proc, log)
        broker = re.search(r"embedded redis-server at (redis://\S+)", output).group(1)
        worker_log = tmp_path / "log" / "worker.log"
        wait_for(lambda: " ready." in worker_log.read_text(), "the worker ready", log)
        worker = wait_for(lambda: program_pid(proc.pid, "worker"), "the worker process", log)
        children = descendants(proc.pid)
        # when the worker's main process is killed outright
        os.kill(worker, signal.SIGKILL)
        # then the supervisor says which program died and how, and starts a new one
        wait_for(
            lambda: f"worker (pid {worker}) exited unexpectedly: killed by signal SIGKILL" in log.read_text(),
            "the exit line",
            log,
        )
        restarted = wait_for(
            lambda: (pid := program_pid(proc.pid, "worker")) not in (None, worker) and pid,
            "a new worker process",
            log,
        )
        assert f"worker restarted (pid {restarted})" in log.read_text()
        # and the new worker takes tasks from the broker again (a full round trip through it)
        probe = Celery("probe", broker=broker, backend=broker)
        try:
            result = probe.send_task("nexus.ops.echo", args=[{"after": "restart"}], queue="default")
            assert result.get(timeout=60) == {"echo": {"after": "restart"}}
        finally:
            probe.close()
        # and the other programs were left alone
        assert get(f"http://127.0.0.1:{flower}/", auth="ops:flower-pass") == 200
        assert worker_log.read_text().count(" ready.") == 2  # two workers, in the one log
        children |= descendants(proc.pid)
    finally:
        ctrl_c_leaves_nothing(proc, log, children)


def test_a_program_that_keeps_crashing_makes_make_run_give_up_and_stop_everything(tmp_path):
    # given make run whose worker cannot start (a test-only extra argument celery refuses, exit code 2)
    proc, log, _web, _flower = launch(tmp_path, "--extra-args", "worker=--no-such-option")
    children: set[int] = set()
    try:
        # when the worker keeps exiting at start
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            children |= descendants(proc.pid)
            time.sleep(0.2)
        # then make run gives up, exits non-zero, and says which program and where its log is
        output = log.read_text()
        assert proc.returncode == 1, output[-4000:]
        worker_log = tmp_path / "log" / "worker.log"
        assert "worker exited 5 times within 60 s (last: exit code 2); giving up" in output, output[-4000:]
        assert str(worker_log) in output
        assert "No such option '--no-such-option'" in worker_log.read_text()
        # after it had restarted it with a growing backoff
        for delay in (1, 2, 4, 8):
            assert f"exited unexpectedly: exit code 2; restarting it in {delay} s" in output
        assert "embedded redis-server stopped" in output
    finally:
        ctrl_c_leaves_nothing(proc, log, children)
    # and nothing it started (web, Beat, Flower, Redis) is left
    assert children
