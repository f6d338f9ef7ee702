"""docker-compose.yml, the Dockerfile and .env.example agree with the code (no Docker engine needed)."""

from __future__ import annotations

import importlib
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.beat import Scheduler
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.management import get_commands

from config import BASE_DIR, celery_app, embedded
from config.run import commands as make_run_commands
from tests.conftest import worker_argv

COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
ENV_EXAMPLE = BASE_DIR / ".env.example"
ONE_SHOT = {"migrate"}
CELERY_SUBCOMMANDS = {"worker", "beat", "flower", "inspect"}
# Flags that only say where a process listens (or, for gunicorn, how many processes it forks: compose
# takes that from WEB_CONCURRENCY); the rest of each command must match `make run`.
PLACEMENT_FLAGS = {"--bind", "--address", "--port", "--workers"}
# Where the project reads its environment: the code folders DESIGN.md names.
CODE_DIRS = ("config", "platform", "schedules", "tasks", "webhooks")
ENV_READ = re.compile(
    # `env` is a copy of os.environ (config/run.py hands it to its child processes).
    r"""(?:os\.environ\.get|os\.environ\.setdefault|os\.getenv|env_bool|env_int|env\.get|env\.setdefault)"""
    r"""\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - inside a container, loopback is unreachable from other services
# ${VAR}, ${VAR:-default} or $VAR; $$ is compose's escape for a literal $ seen by the container.
COMPOSE_VAR = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


# Services that hold no work of their own when stopped: a short grace is enough (see docker-compose.yml).
QUICK_TO_STOP = {"web": 30, "beat": 10, "flower": 10}
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?")


def seconds(duration: str) -> int:
    """A compose duration ("330s", "5m30s", "1h") in seconds."""
    match = DURATION.fullmatch(str(duration))
    assert match, f"not a compose duration I read: {duration!r}"
    assert any(match.groups()), f"an empty duration: {duration!r}"
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def longest_task_time_limit() -> tuple[str, int]:
    """The registered Nexus task with the longest hard time limit (its own, else the default)."""
    celery_app.loader.import_default_modules()
    limits = {
        name: task.time_limit or settings.CELERY_TASK_TIME_LIMIT
        for name, task in celery_app.tasks.items()
        if name.startswith("nexus.")
    }
    assert limits, "no nexus.* task registered; has tasks/ moved?"
    return max(limits.items(), key=lambda item: item[1])


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def app_services() -> dict[str, dict[str, Any]]:
    """The services built from the repo's Dockerfile (web, worker, beat, flower, migrate)."""
    return {name: svc for name, svc in services().items() if "build" in svc}


def argv(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def option(args: list[str], *names: str) -> str | None:
    """The value of a CLI option given as `--name value`, `--name=value` or `-n value`."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            name, _, value = stripped.partition("=")
            pairs[name.strip()] = value
    return pairs


def without_placement(command: list[str]) -> list[str]:
    """The command with the program's directory and its listen/process-count flags dropped."""
    kept = [Path(command[0]).name]
    rest = iter(command[1:])
    for arg in rest:
        flag = arg.split("=", 1)[0]
        if flag in PLACEMENT_FLAGS:
            if "=" not in arg:
                next(rest, None)
            continue
        kept.append(arg)
    return kept


def test_every_service_has_an_image_or_builds_the_dockerfile_and_a_healthcheck():
    # given the compose file
    for name, service in services().items():
        # when a service names neither an image nor a build
        # then compose could not start it
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
        if "build" in service:
            build = service["build"]
            context = BASE_DIR / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert context.resolve() == BASE_DIR.resolve(), f"{name} builds from {context}, not the repo"
            assert (context / dockerfile).is_file(), f"{name} builds {dockerfile}, which does not exist"
        # and every long-running service says how to tell it is healthy
        if name not in ONE_SHOT:
            test = service.get("healthcheck", {}).get("test")
            assert test, f"{name} has no healthcheck"
            assert test not in (["NONE"], "NONE"), f"{name} disables its healthcheck"


def test_the_one_shot_migrate_runs_once_and_gates_web_worker_and_beat():
    # given the compose services
    every = services()
    # when migrate finishes, it must not be restarted, and the app must wait for it
    assert argv(every["migrate"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert str(every["migrate"].get("restart", "no")) == "no"
    # then web, worker and Beat start only once it exited 0
    for name in ("web", "worker", "beat"):
        condition = every[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_depends_on_names_only_services_that_exist_with_a_known_condition():
    # given every depends_on in the compose file
    every = services()
    known = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in every.items():
        depends_on = service.get("depends_on", {})
        entries = {dep: {} for dep in depends_on} if isinstance(depends_on, list) else depends_on
        for dep, spec in entries.items():
            # then each names a real service, never itself, with a condition compose knows
            assert dep in every, f"{name} depends on unknown service {dep}"
            assert dep != name, f"{name} depends on itself"
            assert spec.get("condition", "service_started") in known, f"{name} -> {dep}: {spec}"
            # and waiting for health only makes sense on a service that has a healthcheck
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in every[dep], f"{name} waits for {dep}'s health, but it has none"


def test_every_app_command_names_a_real_entry_point():
    # given the commands of the services built from the Dockerfile
    for name, service in app_services().items():
        args = argv(service)
        # when compose starts the service, the entry point must exist in this code base
        if args[:2] == ["python", "manage.py"]:
            assert args[2] in get_commands(), f"{name}: no management command {args[2]!r}"
        elif args[0] == "celery":
            assert option(args, "-A", "--app") == "config", f"{name}: Celery app must be config"
            assert isinstance(find_app("config"), Celery), f"{name}: config exposes no Celery app"
            subcommand = next(arg for arg in args[3:] if not arg.startswith("-"))
            assert subcommand in CELERY_SUBCOMMANDS, f"{name}: unexpected celery {subcommand}"
            assert subcommand in celery_cli.commands, f"{name}: celery has no {subcommand} command"
            if subcommand == "beat":
                scheduler_path = option(args, "-S", "--scheduler") or settings.CELERY_BEAT_SCHEDULER
                module_name, _, class_name = scheduler_path.partition(":")
                scheduler = getattr(importlib.import_module(module_name), class_name)
                assert issubclass(scheduler, Scheduler), f"{name}: {scheduler_path} is no Beat scheduler"
        elif args[0] == "gunicorn":
            module_name, _, attribute = args[1].partition(":")
            application = getattr(importlib.import_module(module_name), attribute or "application")
            assert callable(application), f"{name}: {args[1]} is not a WSGI callable"
        else:
            pytest.fail(f"{name}: unknown entry point {args[0]!r}")


def test_the_worker_consumes_exactly_the_configured_queues():
    # given the worker's -Q option and the queues the settings declare (NEXUS_QUEUES, defined once)
    queues = option(argv(services()["worker"]), "-Q", "--queues")
    # then the compose worker consumes exactly those, in the settings' order, and nothing else
    assert queues is not None, "the worker has no -Q"
    assert queues.split(",") == list(settings.NEXUS_QUEUES), "docker-compose.yml's -Q is not NEXUS_QUEUES"
    # and Celery declares the same queues, the default among them
    assert [queue.name for queue in settings.CELERY_TASK_QUEUES] == list(settings.NEXUS_QUEUES)
    assert settings.CELERY_TASK_DEFAULT_QUEUE in settings.NEXUS_QUEUES
    assert len(set(settings.NEXUS_QUEUES)) == len(settings.NEXUS_QUEUES)


def test_make_run_and_the_tests_start_workers_on_the_configured_queues():
    # given the worker `make run` starts and the one the end-to-end tests start
    make_run = shlex.split(make_run_commands(web_port=8000, flower_port=5555)["worker"])
    # then both consume exactly the settings' queues
    assert option(make_run, "-Q", "--queues") == ",".join(settings.NEXUS_QUEUES)
    assert option(worker_argv(), "-Q", "--queues") == ",".join(settings.NEXUS_QUEUES)


def test_app_commands_are_the_programs_make_run_starts():
    # given what `make run` starts and what compose starts
    local = make_run_commands(web_port=8000, flower_port=5555)
    in_compose = {name: argv(svc) for name, svc in app_services().items() if name not in ONE_SHOT}
    # then both run the same processes
    assert set(in_compose) == set(local)
    # and each the same program with the same options, apart from where it listens
    for name, command in local.items():
        assert without_placement(in_compose[name]) == without_placement(shlex.split(command)), name


def test_compose_listens_on_every_interface_inside_the_container():
    # given the two servers other containers and the host reach
    every = services()
    # then they bind all interfaces (loopback inside a container is unreachable from outside it)
    assert option(argv(every["web"]), "--bind", "-b") == f"{ANY_ADDRESS}:8000"
    assert option(argv(every["flower"]), "--address") == ANY_ADDRESS
    assert option(argv(every["flower"]), "--port") == "5555"


def test_every_compose_variable_is_documented_in_env_example():
    # given the variables compose interpolates and those the shared app environment sets
    documented = env_example()
    text = COMPOSE_FILE.read_text()
    interpolated = {a or b for a, b in COMPOSE_VAR.findall(text)}
    app_environment = compose()["x-app"]["environment"]
    set_by_app = (
        set(app_environment)
        if isinstance(app_environment, dict)
        else {entry.split("=", 1)[0] for entry in app_environment}
    )
    # then each of them is in .env.example
    assert interpolated, "expected ${VAR} interpolation in docker-compose.yml"
    missing = (interpolated | set_by_app) - set(documented)
    assert not missing, f"used by docker-compose.yml but not in .env.example: {sorted(missing)}"
    # and every app service reads .env (copied from .env.example)
    for name, service in app_services().items():
        assert service["env_file"] in (".env", [".env"]), name


def test_every_variable_the_code_reads_is_documented_in_env_example():
    # given every environment variable read in the code folders
    read = set()
    for folder in CODE_DIRS:
        for path in (BASE_DIR / folder).rglob("*.py"):
            read |= {a or b for a, b in ENV_READ.findall(path.read_text())}
    # then .env.example documents each (plus what gunicorn and Flower read themselves)
    documented = env_example()
    assert read, "found no environment reads; has the code moved?"
    missing = read - set(documented)
    assert not missing, f"read by the code but not in .env.example: {sorted(missing)}"
    assert {"WEB_CONCURRENCY", "FLOWER_BASIC_AUTH"} <= set(documented)


def test_env_example_gives_each_variable_a_comment_and_no_duplicates():
    # given .env.example line by line
    lines = ENV_EXAMPLE.read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    # then no variable is set twice, and each has a comment on the line above
    assert len(names) == len(set(names))
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", line), f"not NAME=value: {line!r}"
            assert index > 0, "the first line must be a comment"
            assert lines[index - 1].startswith("#"), f"{line.split('=')[0]} has no comment"


def test_the_image_runs_prod_settings_as_a_non_root_user():
    # given the Dockerfile and its ignore file
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    # then it runs the prod settings from /app, not as root, with static files collected
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "DJANGO_SETTINGS_MODULE=config.settings.prod" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users, "no USER line: the image would run as root"
    assert users[-1] not in {"root", "0"}
    assert "collectstatic --noinput" in dockerfile
    assert re.search(r"^EXPOSE\s+8000\s+5555\s*$", dockerfile, re.MULTILINE)
    # and local state never reaches the build context
    assert {".venv", "var", ".git"} <= set(ignored)
    assert "__pycache__" in " ".join(ignored)


def test_every_long_running_service_is_restarted_and_the_one_shot_is_not():
    # given the compose services
    for name, service in services().items():
        policy = str(service.get("restart", "no"))
        # then a one-shot runs once, and every server comes back when it exits (until compose stops it)
        if name in ONE_SHOT:
            assert policy == "no", name
        else:
            assert policy in ("unless-stopped", "always"), f"{name} is not restarted (restart: {policy})"


def test_the_worker_has_time_to_finish_its_longest_task_and_the_others_stop_quickly():
    # given the longest hard time limit of any task (a running task may last that long)
    task, limit = longest_task_time_limit()
    every = services()
    # then the worker's grace between SIGTERM (warm shutdown) and SIGKILL is longer than that
    grace = seconds(every["worker"].get("stop_grace_period", "10s"))
    assert grace > limit, f"worker stop_grace_period {grace} s <= {task}'s time_limit {limit} s"
    assert grace <= limit + 120, f"worker stop_grace_period {grace} s: a stop would hang long past {task}"
    # and web, Beat and Flower, which hold no task, are stopped (killed) soon after SIGTERM
    for name, most in QUICK_TO_STOP.items():
        assert seconds(every[name].get("stop_grace_period", "10s")) <= most, name


def test_compose_durations_are_read_as_compose_reads_them():
    assert [seconds(d) for d in ("10s", "2m", "5m30s", "330s", "1h")] == [10, 120, 330, 330, 3600]


def test_compose_redis_keeps_what_is_queued_across_its_own_restart(tmp_path):
    # given the compose redis service's command, with its data on the volume at /data
    redis_service = services()["redis"]
    args = argv(redis_service)
    assert args[0] == "redis-server"
    assert option(args, "--appendonly") == "yes"
    assert option(args, "--appendfsync") == "everysec"
    assert any(str(volume).endswith(":/data") for volume in redis_service["volumes"])
    # when that command runs (here the local binary, on loopback, with tmp_path as its /data)
    binary = embedded.find_redis_server()

    def start(port: int) -> subprocess.Popen:
        server = subprocess.Popen(
            [binary, *args[1:], "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=5)
        for _ in range(200):
            try:
                client.ping()
                return server
            except redis.ConnectionError:
                assert server.poll() is None, f"redis-server refused the compose flags: {args}"
                time.sleep(0.05)
        pytest.fail("redis-server with the compose flags never answered")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start(port)
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.lpush("calendar", b"a queued task")
        # and Redis dies without a clean shutdown (the write reached the append-only file already)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        server = start(port)
        # then the queued message is still there
        assert client.lrange("calendar", 0, -1) == [b"a queued task"]
    finally:
        server.terminate()
        server.wait(timeout=10)
