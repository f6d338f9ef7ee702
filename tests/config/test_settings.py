"""Settings and wiring: platform/ never shadows the stdlib, prod refuses to start without its secrets."""

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from config import BASE_DIR, embedded
from tests.conftest import process_env


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_stdlib_platform_module_wins_from_the_repo_root():
    # platform/ is a plain folder: importing platform from the root must give the stdlib module
    result = run_python("import uuid, platform; print(platform.system())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Linux"
    assert not (BASE_DIR / "platform" / "__init__.py").exists()


def test_domain_apps_import_through_config():
    result = run_python("import config, platform, uuid; import programs.relative; print(platform.system())")
    assert result.returncode == 0, result.stderr


def test_prod_settings_refuse_to_start_without_their_secrets():
    result = run_python("import django; django.setup()", DJANGO_SETTINGS_MODULE="config.settings.prod")
    assert result.returncode != 0
    assert (
        "Production settings need DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, "
        "GITHUB_WEBHOOK_SECRETS" in result.stderr
    )


def test_prod_settings_refuse_a_short_secret_key():
    result = run_python(
        "import django; django.setup()",
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY="short",
        DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL="postgres://u@127.0.0.1/x",
        REDIS_URL="redis://127.0.0.1/0",
        GITHUB_WEBHOOK_SECRETS="a-default-webhook-secret",
    )
    assert "DJANGO_SECRET_KEY must be at least 32 characters" in result.stderr


def test_prod_settings_start_with_everything_set():
    result = run_python(
        "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY="x" * 40,
        DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL="postgres://u@127.0.0.1/x",
        REDIS_URL="redis://127.0.0.1/0",
        GITHUB_WEBHOOK_SECRETS="a-default-webhook-secret",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_prod_settings_link_emails_to_the_public_host():
    # given production settings without NEXUS_PUBLIC_URL: the first named allowed host, over https
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "DJANGO_SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgres://u@127.0.0.1/x",
        "REDIS_URL": "redis://127.0.0.1/0",
        "GITHUB_WEBHOOK_SECRETS": "a-default-webhook-secret",
    }
    show = "import django; django.setup(); from django.conf import settings; print(settings.NEXUS_PUBLIC_URL)"
    result = run_python(show, DJANGO_ALLOWED_HOSTS=".nexus.example,learn.nexus.example", **env)
    assert result.stdout.strip() == "https://learn.nexus.example", result.stderr
    # and a wildcard-only host list is refused with what to set
    result = run_python(show, DJANGO_ALLOWED_HOSTS=".nexus.example", **env)
    assert result.returncode != 0
    assert "NEXUS_PUBLIC_URL is needed" in result.stderr


def test_prod_settings_take_secrets_per_repository_only_but_not_none():
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "DJANGO_SECRET_KEY": "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": "postgres://u@127.0.0.1/x",
        "REDIS_URL": "redis://127.0.0.1/0",
    }
    show = "import django; django.setup(); from django.conf import settings; print(settings.NEXUS_GITHUB_WEBHOOK_SECRETS)"
    # an organisation's hooks only: no default needed (deliveries about other repositories get a 401)
    result = run_python(show, GITHUB_WEBHOOK_SECRETS='{"acme/repo": "only-one-repository"}', **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'acme/repo': ('only-one-repository',)}"
    # an empty object names none: refused, saying what to set
    result = run_python(show, GITHUB_WEBHOOK_SECRETS="{}", **env)
    assert result.returncode != 0
    assert "GITHUB_WEBHOOK_SECRETS names no secret" in result.stderr


def test_malformed_webhook_secrets_are_refused_at_start_with_the_reason():
    result = run_python(
        "import django; django.setup()",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        GITHUB_WEBHOOK_SECRETS='{"acme": ["one", "two", "three"]}',
    )
    assert result.returncode != 0
    assert "GITHUB_WEBHOOK_SECRETS['acme'] must be a non-empty secret or a list of 2" in result.stderr


def test_a_worker_without_a_broker_says_how_to_get_one(tmp_path):
    # given no REDIS_URL and no embedded Redis running for this checkout
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "celery"),
            "-A",
            "config",
            "worker",
            "--without-mingle",
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
            "DJANGO_SETTINGS_MODULE": "config.settings.dev",
            "SQLITE_PATH": str(tmp_path / "x.sqlite3"),
        },
    )
    if embedded.running_url(BASE_DIR / "var" / "run"):
        pytest.skip("a make run of this checkout is running, so a broker is configured")
    assert result.returncode != 0
    assert "No broker: set REDIS_URL" in result.stdout + result.stderr


def test_the_embedded_redis_starts_answers_and_stops(tmp_path):
    server = embedded.start(tmp_path)
    try:
        assert embedded.running_url(tmp_path) == server.url
        import redis

        assert redis.Redis.from_url(server.url).ping() is True
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert embedded.running_url(tmp_path) == ""


CHILDREN_AFTER_SETUP = """
import os
from pathlib import Path

import django

django.setup()
from django.conf import settings


def parent(proc):
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):  # it exited while we looked
        return None


children = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and parent(p) == os.getpid()]
print(len(children), repr(os.environ.get("REDIS_URL", "")), repr(settings.REDIS_URL))
"""


def test_importing_the_test_settings_starts_no_redis():
    # given the test settings and no REDIS_URL
    # when Django is set up with them
    result = run_python(CHILDREN_AFTER_SETUP, DJANGO_SETTINGS_MODULE="config.settings.test")
    # then settings only declared values: no redis-server child, no REDIS_URL made up
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "''", "''"]


def test_the_session_redis_reaches_settings_the_celery_app_and_child_processes(session_redis, app):
    # given the session's Redis (REDIS_URL from the environment, or the one the session started)
    # then this process's settings and Celery app use it
    assert settings.REDIS_URL == settings.CELERY_BROKER_URL == settings.CELERY_RESULT_BACKEND == session_redis
    assert app.conf.broker_url == app.conf.result_backend == session_redis
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        assert (connection.hostname, connection.port, connection.virtual_host) == (
            urlsplit(session_redis).hostname,
            urlsplit(session_redis).port,
            urlsplit(session_redis).path.lstrip("/"),
        )
    # and a worker or Beat the tests start reads it from its environment
    result = run_python(
        "import django; django.setup(); from django.conf import settings; print(settings.CELERY_BROKER_URL)",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        REDIS_URL=process_env()["REDIS_URL"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == session_redis


def test_prod_settings_refuse_env_examples_placeholder_secrets():
    # given the secrets of a .env copied from .env.example and not changed
    example = dict(
        line.split("=", 1)
        for line in (BASE_DIR / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    result = run_python(
        "import django; django.setup()",
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY=example["DJANGO_SECRET_KEY"],
        DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL=f"postgres://nexus:{example['POSTGRES_PASSWORD']}@127.0.0.1/nexus",
        REDIS_URL="redis://127.0.0.1/0",
        GITHUB_WEBHOOK_SECRETS=example["GITHUB_WEBHOOK_SECRETS"],
        FLOWER_BASIC_AUTH=example["FLOWER_BASIC_AUTH"],
    )
    # then production refuses to start, naming each
    assert result.returncode != 0
    assert (
        "DJANGO_SECRET_KEY, GITHUB_WEBHOOK_SECRETS, DATABASE_URL, FLOWER_BASIC_AUTH still hold "
        ".env.example's placeholder" in result.stderr
    )
