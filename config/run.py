"""`make run`: embedded Redis if needed, migrate, bootstrap, then web, worker, Beat and Flower under honcho."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from honcho.manager import Manager

from config import BASE_DIR, embedded
from config.settings.base import NEXUS_QUEUES

VAR_DIR = BASE_DIR / "var"
RUN_DIR = VAR_DIR / "run"
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


def answers(url: str) -> bool:
    """Whether an HTTP server answers at url (any status: Flower's 401 counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def announce_when_up(web_port: int, flower_port: int, login: str, flower_login: str, started: float) -> None:
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
        f"  calendar http://127.0.0.1:{web_port}/admin/cohorts/cohortevent/   (the rehearsal plays a week a minute)",
        "  Ctrl-C stops everything (web, worker, Beat, Flower and the embedded Redis).",
        "=" * 72,
        "",
    ]
    print("\n".join(banner), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("NEXUS_WEB_PORT", "8000")))
    parser.add_argument("--flower-port", type=int, default=int(os.environ.get("NEXUS_FLOWER_PORT", "5555")))
    args = parser.parse_args(argv)
    started = time.monotonic()

    for name, port in (("NEXUS_WEB_PORT", args.web_port), ("NEXUS_FLOWER_PORT", args.flower_port)):
        if not port_free(port):
            say(f"port {port} is already in use; stop what holds it or set {name} to another port")
            return 2

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    env["PYTHONUNBUFFERED"] = "1"
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

        manager = Manager()
        for name, command in commands(args.web_port, args.flower_port).items():
            manager.add_process(name, command, env=env, cwd=str(BASE_DIR))
        threading.Thread(
            target=announce_when_up,
            args=(args.web_port, args.flower_port, login, flower_login, started),
            daemon=True,
        ).start()
        manager.loop()
        return manager.returncode or 0
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
