"""`make run`: embedded Redis if needed, migrate, bootstrap, then web, worker, Beat and Flower, supervised."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import IO

from config import BASE_DIR, embedded
from config.settings.base import NEXUS_QUEUES

VAR_DIR = BASE_DIR / "var"
RUN_DIR = VAR_DIR / "run"
LOG_DIR = VAR_DIR / "log"
MAIL_DIR = VAR_DIR / "mail"  # dev settings' file email backend writes here (EMAIL_FILE_PATH)
BIN = Path(sys.executable).parent


def say(message: str) -> None:
    print(f"[nexus] {message}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def secret_file(path: Path, make: str) -> str:
    """A local, git-ignored credential: read it if present, else write it (mode 0600)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make)
    return make


def manage(env: dict[str, str], *args: str) -> str:
    """Run a manage.py command, showing its output; returns that output."""
    say("manage.py " + " ".join(args))
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env=env,
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    print(result.stdout, end="", flush=True)
    if result.returncode:
        raise subprocess.CalledProcessError(result.returncode, args)
    return result.stdout


def commands(web_port: int, flower_port: int) -> dict[str, str]:
    """The processes, with the same commands docker-compose.yml runs."""
    return {
        "web": f"{BIN}/gunicorn config.wsgi:application --bind 127.0.0.1:{web_port} --workers 1 --threads 4 "
        "--access-logfile -",
        "worker": f"{BIN}/celery -A config worker -l INFO -Q {','.join(NEXUS_QUEUES)} -n worker@%h",
        "beat": f"{BIN}/celery -A config beat -l INFO",
        "flower": f"{BIN}/celery -A config flower --address=127.0.0.1 --port={flower_port}",
    }


# --- the supervisor ---------------------------------------------------------------------------------
# A process that exits while we are not stopping is restarted after a backoff (1, 2, 4, 8, 16 s by how
# many times it exited within the window); GIVE_UP_AFTER exits within GIVE_UP_WINDOW seconds mean it
# cannot start (a bad setting, a broken dependency): restarting it again would only hide that, so
# everything stops and make run exits non-zero.
GIVE_UP_AFTER = 5
GIVE_UP_WINDOW = 60.0
BACKOFF_MAX = 16.0
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL when make run stops
COLOURS = ("36", "33", "35", "32", "34", "31")


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


LIBC = _load_libc()  # loaded here, so the child between fork and exec only calls prctl


def _die_with_supervisor() -> None:
    # Linux: the kernel sends SIGTERM to the child when the supervisor dies, even by SIGKILL, so no
    # process outlives make run. (Children are started from the main thread only: the signal follows
    # the thread that forked them.)
    if LIBC is not None:
        LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Child:
    """One supervised program: its command, its current process, its log file and its recent exits."""

    def __init__(self, name: str, argv: list[str], log_path: Path, prefix: str) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.prefix = prefix
        self.process: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None
        self.exits: deque[float] = deque()
        self.restart_at: float | None = None


class Supervisor:
    """Starts each program in its own process group, prefixes its output (honcho style) and copies it to
    its log file, restarts it when it exits, gives up on a crash loop, and stops everything on request."""

    def __init__(self, programs: dict[str, list[str]], env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        width = max(len(name) for name in programs)
        colour = sys.stdout.isatty()
        self.children = []
        for index, (name, argv) in enumerate(programs.items()):
            prefix = f"{name:<{width}} | "
            if colour:
                prefix = f"\033[{COLOURS[index % len(COLOURS)]}m{prefix}\033[0m"
            log_path = log_dir / f"{name}.log"
            log_path.write_bytes(b"")  # each make run starts its logs afresh; restarts append
            self.children.append(Child(name, argv, log_path, prefix))
        self.output = threading.Lock()
        self.stop_requested = 0  # signals received: 1 stops gracefully, 2 kills at once

    def _copy_output(self, child: Child, stream: IO[bytes]) -> None:
        with child.log_path.open("ab") as log:
            for raw in iter(stream.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode(errors="replace").rstrip("\n")
                with self.output:
                    print(f"{time.strftime('%H:%M:%S')} {child.prefix}{line}", flush=True)
        stream.close()

    def _start(self, child: Child) -> None:
        process = subprocess.Popen(  # noqa: S603 - our own commands (commands() below)
            child.argv,
            env=self.env,
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own group: Ctrl-C reaches only us, and we stop each program (and its pool processes)
            # ourselves, in order.
            start_new_session=True,
            preexec_fn=_die_with_supervisor,  # noqa: PLW1509 - only prctl, no locks taken
        )
        child.process, child.restart_at = process, None
        child.reader = threading.Thread(target=self._copy_output, args=(child, process.stdout), daemon=True)
        child.reader.start()

    @staticmethod
    def _signal_group(child: Child, sig: int) -> None:
        if child.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, sig)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stop_requested += 1

    def _exited(self, child: Child, process: subprocess.Popen[bytes], now: float) -> str | None:
        """Handle an unexpected exit: schedule the restart, or return why we give up."""
        returncode, pid = process.returncode, process.pid
        # Whatever it left behind in its group (a prefork pool whose parent was killed) goes too.
        self._signal_group(child, signal.SIGKILL)
        if child.reader is not None:
            child.reader.join(timeout=5)
        child.exits.append(now)
        while child.exits and now - child.exits[0] > GIVE_UP_WINDOW:
            child.exits.popleft()
        recent = len(child.exits)
        if recent >= GIVE_UP_AFTER:
            return (
                f"{child.name} exited {recent} times within {GIVE_UP_WINDOW:.0f} s (last: {describe_exit(returncode)}); "
                f"giving up and stopping everything. Its output is above (lines '{child.name} | ') and in "
                f"{child.log_path}"
            )
        delay = min(2.0 ** (recent - 1), BACKOFF_MAX)
        say(
            f"{child.name} (pid {pid}) exited unexpectedly: {describe_exit(returncode)}; restarting it in "
            f"{delay:.0f} s ({recent} of {GIVE_UP_AFTER} exits allowed within {GIVE_UP_WINDOW:.0f} s; "
            f"log: {child.log_path})"
        )
        child.restart_at = now + delay
        child.process = None
        return None

    def stop_all(self) -> None:
        """SIGTERM each program (a worker finishes its running tasks), SIGKILL whatever is left after the grace."""
        running = [child for child in self.children if child.process is not None]
        for child in running:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.terminate()
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and self.stop_requested < 2:  # a second Ctrl-C kills at once
            if all(child.process.poll() is not None for child in running):
                break
            time.sleep(0.1)
        for child in running:
            if child.process.poll() is None:
                say(f"{child.name} did not stop within {STOP_GRACE:.0f} s; killing it")
            self._signal_group(child, signal.SIGKILL)  # and anything left in its group
            child.process.wait()
            if child.reader is not None:
                child.reader.join(timeout=5)

    def run(self) -> int:
        """Supervise until a signal (returns 0) or a crash loop (returns 1)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self.children:
                self._start(child)
            while not self.stop_requested:
                now = time.monotonic()
                for child in self.children:
                    if child.process is not None and child.process.poll() is not None:
                        reason = self._exited(child, child.process, now)
                        if reason is not None:
                            child.process = None
                            say(reason)
                            self.stop_all()
                            say(f"stopped everything: {child.name} keeps exiting; see {child.log_path}")
                            return 1
                    elif child.process is None and child.restart_at is not None and now >= child.restart_at:
                        self._start(child)
                        say(f"{child.name} restarted (pid {child.process.pid})")
                time.sleep(0.2)
            say("stopping web, worker, Beat and Flower")
            self.stop_all()
            say("web, worker, Beat and Flower stopped")
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def answers(url: str) -> bool:
    """Whether an HTTP server answers at url (any status: Flower's 401 counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def announce_when_up(
    web_port: int, flower_port: int, login: str, flower_login: str, started: float, log_dir: Path
) -> None:
    """Print the URLs and logins once the admin login page and Flower both answer."""
    admin = f"http://127.0.0.1:{web_port}/admin/"
    flower = f"http://127.0.0.1:{flower_port}/"
    deadline = time.monotonic() + 180
    while not (answers(admin + "login/") and answers(flower)):
        if time.monotonic() > deadline:
            say(f"the admin ({admin}) or Flower ({flower}) did not answer within 180 s; see the lines above")
            return
        time.sleep(0.5)
    banner = [
        "",
        "=" * 72,
        f"Nexus is up ({time.monotonic() - started:.1f} s)",
        f"  admin    {admin}   login: {login}",
        f"  flower   {flower}   login: {flower_login}",
        f"  health   http://127.0.0.1:{web_port}/healthz",
        f"  calendar http://127.0.0.1:{web_port}/admin/cohorts/cohort/   (each cohort's Calendar; the rehearsal plays a week a minute)",
        f"  mail     http://127.0.0.1:{web_port}/admin/notifications/notification/   (emails as sent: {MAIL_DIR}/)",
        f"  logs     {log_dir}/<web|worker|beat|flower>.log   (a program that exits is restarted)",
        "  Ctrl-C stops everything (web, worker, Beat, Flower and the embedded Redis).",
        "=" * 72,
        "",
    ]
    print("\n".join(banner), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("NEXUS_WEB_PORT", "8000")))
    parser.add_argument("--flower-port", type=int, default=int(os.environ.get("NEXUS_FLOWER_PORT", "5555")))
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=LOG_DIR,
        help="where each program's output is copied (default var/log)",
    )
    parser.add_argument(
        "--extra-args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="for tests of the supervisor only: append ARGS to program NAME's command "
        "(e.g. worker=--no-such-option makes the worker crash at start)",
    )
    args = parser.parse_args(argv)
    programs = {
        name: shlex.split(command) for name, command in commands(args.web_port, args.flower_port).items()
    }
    for extra in args.extra_args:
        name, _, more = extra.partition("=")
        if name not in programs:
            parser.error(f"--extra-args: no program {name!r} (one of {', '.join(programs)})")
        programs[name] += shlex.split(more)
    started = time.monotonic()

    for name, port in (("NEXUS_WEB_PORT", args.web_port), ("NEXUS_FLOWER_PORT", args.flower_port)):
        if not port_free(port):
            say(f"port {port} is already in use; stop what holds it or set {name} to another port")
            return 2

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    env["PYTHONUNBUFFERED"] = "1"
    # Links in the emails (feed sign-in, unsubscribe) point at this run's web server.
    env.setdefault("NEXUS_PUBLIC_URL", f"http://127.0.0.1:{args.web_port}")
    redis_server = None
    if not env.get("REDIS_URL"):
        try:
            redis_server = embedded.start(RUN_DIR)
        except embedded.EmbeddedRedisError as exc:
            say(str(exc))
            return 2
        env["REDIS_URL"] = redis_server.url
        say(f"broker: embedded redis-server at {redis_server.url} (stops with make run)")
    else:
        say("broker: REDIS_URL from the environment")
    say(
        "database: "
        + (
            "DATABASE_URL from the environment"
            if env.get("DATABASE_URL")
            else f"SQLite file {env.get('SQLITE_PATH') or VAR_DIR / 'nexus.sqlite3'}"
        )
    )

    try:
        manage(env, "migrate", "--noinput")
        env.setdefault("NEXUS_ADMIN_USER", "admin")
        generated = not env.get("NEXUS_ADMIN_PASSWORD")
        if generated:
            env["NEXUS_ADMIN_PASSWORD"] = secret_file(
                VAR_DIR / "admin-password.txt", secrets.token_urlsafe(12)
            )
        setup = manage(env, "nexus_setup")
        # nexus_setup's last line is the login, with a password only if that password really works.
        login = setup.strip().splitlines()[-1].removeprefix("login: ")
        if generated and " / " in login:
            login += "  (generated; kept in var/admin-password.txt)"
        if env.get("NEXUS_DEMO", "1") != "0":
            manage(env, "demo_seed")
        if not env.get("FLOWER_BASIC_AUTH"):
            env["FLOWER_BASIC_AUTH"] = "flower:" + secret_file(
                VAR_DIR / "flower-password.txt", secrets.token_urlsafe(12)
            )
        flower_login = env["FLOWER_BASIC_AUTH"].replace(":", " / ", 1)

        supervisor = Supervisor(programs, env, args.log_dir)
        threading.Thread(
            target=announce_when_up,
            args=(args.web_port, args.flower_port, login, flower_login, started, args.log_dir),
            daemon=True,
        ).start()
        return supervisor.run()
    except subprocess.CalledProcessError as exc:
        say(f"setup step failed ({exc.cmd[-1] if exc.cmd else exc}); see the lines above")
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130
    finally:
        if redis_server is not None:
            redis_server.stop()
            say("embedded redis-server stopped")


if __name__ == "__main__":
    sys.exit(main())
