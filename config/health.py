"""Health: GET /healthz (database, broker and Beat) and GET /readyz (database and broker, what serving needs);
each check 'ok' or the failure, and 503 when any is down."""

import logging
import time
from functools import lru_cache

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger("nexus.health")


def _down(what: str, exc: Exception) -> str:
    # The details (hosts, users) go to the log, not to whoever can reach /healthz.
    logger.warning("health: %s: %s", what, exc)
    return f"down: {what} ({type(exc).__name__})"


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return _down("database unreachable", exc)
    return "ok"


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def _redis() -> redis.Redis:
    # One client (and connection pool) per URL for the process, not a new connection per check.
    return _client(settings.REDIS_URL)


def check_broker() -> str:
    if not settings.REDIS_URL:
        return "down: no broker configured (set REDIS_URL)"
    try:
        _redis().ping()
    except redis.RedisError as exc:
        return _down("broker unreachable", exc)
    return "ok"


def check_beat() -> str:
    if not settings.REDIS_URL:
        return "down: no broker configured, so no Beat heartbeat"
    try:
        raw = _redis().get(settings.NEXUS_BEAT_HEARTBEAT_KEY)
    except redis.RedisError as exc:
        return _down("cannot read the Beat heartbeat", exc)
    if raw is None:
        return "down: no Beat heartbeat yet (is `celery -A config beat` running?)"
    age = time.time() - float(raw)
    if age > settings.NEXUS_BEAT_HEARTBEAT_MAX_AGE:
        return f"down: last Beat heartbeat {age:.0f} s ago (limit {settings.NEXUS_BEAT_HEARTBEAT_MAX_AGE} s)"
    return "ok"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database(), "broker": check_broker(), "beat": check_beat()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    # Readiness: can this process do its job (serve requests, enqueue tasks)? Beat is not asked: a web
    # process is ready while Beat restarts (the reconciler catches up), and /healthz reports Beat.
    checks = {"database": check_database(), "broker": check_broker()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if ready else 503)
