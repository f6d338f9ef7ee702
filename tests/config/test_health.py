"""GET /healthz (database, broker and Beat) and GET /readyz (database and broker): each "ok" or the failure."""

import time

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from config import embedded


@pytest.mark.django_db
def test_healthz_is_503_and_names_beat_when_no_heartbeat(client, redis_client):
    # given a working database and broker but no Beat heartbeat
    # when ops ask for health
    response = client.get("/healthz")
    # then it is 503 and says what is down
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["beat"].startswith("down: no Beat heartbeat")


@pytest.mark.django_db
def test_healthz_is_200_with_a_fresh_heartbeat(client, redis_client):
    redis_client.set(settings.NEXUS_BEAT_HEARTBEAT_KEY, str(time.time()))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "beat": "ok"}


@pytest.mark.django_db
def test_healthz_calls_a_stale_heartbeat_down(client, redis_client):
    redis_client.set(settings.NEXUS_BEAT_HEARTBEAT_KEY, str(time.time() - 3600))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "last Beat heartbeat 3600 s ago" in response.json()["beat"]


@pytest.mark.django_db
def test_healthz_reports_a_broker_that_is_down(client, settings):
    # given a Redis URL nothing listens on
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"] == "down: broker unreachable (ConnectionError)"
    assert body["beat"] == "down: cannot read the Beat heartbeat (ConnectionError)"
    assert body["database"] == "ok"


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


def test_beat_process_writes_the_heartbeat(client, celery_beat_process, redis_client):
    # given a real Beat process
    deadline = time.time() + 15
    while time.time() < deadline and not redis_client.get(settings.NEXUS_BEAT_HEARTBEAT_KEY):
        time.sleep(0.2)
    # then health calls Beat ok
    assert client.get("/healthz").json()["beat"] == "ok"
    # and the reconciler's entry is in the admin's table, expiring before the next run; it names no
    # queue, so tasks/routing.py puts it on the calendar queue like any other send
    reconcile = PeriodicTask.objects.get(name="nexus:reconcile")
    assert reconcile.task == "nexus.calendar.reconcile"
    assert reconcile.queue is None
    assert reconcile.expire_seconds == settings.NEXUS_RECONCILE_EVERY - 5
    assert reconcile.interval.every == settings.NEXUS_RECONCILE_EVERY


@pytest.mark.django_db
def test_readyz_is_200_with_database_and_broker_and_does_not_wait_for_beat(client, redis_client):
    # given a working database and broker, and no Beat at all
    redis_client.delete(settings.NEXUS_BEAT_HEARTBEAT_KEY)
    # when a load balancer or compose asks whether web is ready
    response = client.get("/readyz")
    # then it is: serving needs the database and the broker, not Beat
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_and_healthz_say_when_a_real_broker_stops(client, settings, tmp_path):
    # given a redis-server of this test's own, as the broker
    server = embedded.start(tmp_path / "redis", scratch=True)
    try:
        settings.REDIS_URL = server.url
        assert client.get("/readyz").status_code == 200
        assert client.get("/healthz").json()["broker"] == "ok"
    finally:
        # when it stops (the connection the checks already hold goes dead with it)
        server.stop()
    # then readiness is 503 and names the broker, the database still ok
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "down: broker unreachable (ConnectionError)"}
    # and so is health, which cannot read Beat's heartbeat either
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["broker"] == "down: broker unreachable (ConnectionError)"
    assert health.json()["beat"] == "down: cannot read the Beat heartbeat (ConnectionError)"


def test_readyz_refuses_post(client):
    assert client.post("/readyz").status_code == 405


def test_the_site_root_sends_staff_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
