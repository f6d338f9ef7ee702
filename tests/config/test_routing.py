"""Queue policy lives in tasks/: every send, whichever way it is made, lands on its task's queue."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from schedules import entries, fastpath
from tasks import calendar, ops
from tasks.routing import queue_for

# The policy, spelled out: a new task must be added here, which makes its queue a decision.
EXPECTED = {
    "nexus.calendar.fire_event": "calendar",
    "nexus.calendar.reconcile": "calendar",
    "nexus.github.drain_deliveries": "github",
    "nexus.github.poll_ci": "github",
    "nexus.github.process_delivery": "github",
    "nexus.github.provision": "github",
    "nexus.github.redeliver": "github",
    "nexus.notifications.deliver": "notifications",
    "nexus.notifications.digest": "notifications",
    "nexus.notifications.sweep": "notifications",
    "nexus.ops.echo": "default",
    "nexus.ops.mark": "default",
}


def waiting(redis_client) -> dict[str, list[str]]:
    """Task names of the messages waiting in each queue's Redis list."""
    return {
        queue: [json.loads(raw)["headers"]["task"] for raw in redis_client.lrange(queue, 0, -1)]
        for queue in settings.NEXUS_QUEUES
        if redis_client.llen(queue)
    }


def test_settings_name_the_router_by_dotted_path_only():
    # given the routes the settings hand Celery
    # then they are a path Celery resolves on first use: settings import nothing from tasks/
    assert settings.CELERY_TASK_ROUTES == ("tasks.routing.route",)
    assert "queue" not in settings.CELERY_BEAT_SCHEDULE["nexus:reconcile"]["options"]


def test_every_task_name_routes_to_its_queue_through_the_apps_router(app):
    # given every Nexus task the app has registered
    registered = {name for name in app.tasks if name.startswith("nexus.")}
    # then the policy above names each of them
    assert registered == set(EXPECTED)
    for name, queue in EXPECTED.items():
        # when the app's own router routes a send by name with no options (as Beat and send_task do)
        route = app.amqp.router.route({}, name)
        # then it goes to its declared queue, on that queue's own exchange and routing key
        assert route["queue"].name == queue, name
        assert route["queue"].exchange.name == queue, name
        assert route["queue"].routing_key == queue, name
        assert queue in settings.NEXUS_QUEUES


def test_names_outside_a_declared_queue_go_to_the_default_queue():
    assert queue_for("nexus.ops.echo") == settings.CELERY_TASK_DEFAULT_QUEUE
    assert queue_for("nexus.nosuchqueue.x") == settings.CELERY_TASK_DEFAULT_QUEUE
    assert queue_for("bench.probe") == settings.CELERY_TASK_DEFAULT_QUEUE
    assert queue_for("nexus.notifications.send") == "notifications"


def test_delay_and_send_task_land_on_the_tasks_queue_in_redis(app, redis_client):
    # given empty queues and no worker
    assert waiting(redis_client) == {}
    # when tasks are sent with .delay() and by name with send_task()
    calendar.fire_event.delay(cohort_id=1, event="unlock:x")
    app.send_task("nexus.calendar.reconcile")
    ops.echo.delay({"hello": 1})
    # then each message waits in its task's queue, and no other
    assert waiting(redis_client) == {
        "calendar": ["nexus.calendar.reconcile", "nexus.calendar.fire_event"],
        "default": ["nexus.ops.echo"],
    }


def test_a_queue_the_caller_names_still_wins(app, redis_client):
    app.send_task("nexus.calendar.reconcile", queue="metrics")
    assert waiting(redis_client) == {"metrics": ["nexus.calendar.reconcile"]}


@pytest.mark.django_db
def test_a_beat_entry_without_a_queue_is_routed_by_tasks(app, redis_client):
    # given a calendar event handed to the Beat adapter with no queue (routing is tasks/' job)
    at = timezone.now() + timedelta(minutes=5)
    entries.sync(
        prefix="test-routing:",
        records=[
            entries.EventRecord(
                name="test-routing:one",
                task="nexus.calendar.fire_event",
                kwargs={"cohort_id": 1, "event": "unlock:x"},
                instant=at,
                enabled=True,
            )
        ],
    )
    # when Beat sends it as NexusScheduler does (its entry's options, the task by name and by object)
    (entry,) = [fastpath.ClockedEntry.from_row(row) for row in fastpath.read_rows(upper=at)]
    assert "queue" not in entry.options
    app.send_task(entry.task, entry.args, entry.kwargs, **entry.options)
    app.tasks[entry.task].apply_async(entry.args, entry.kwargs, **entry.options)
    # then both messages wait on the calendar queue
    assert waiting(redis_client) == {"calendar": ["nexus.calendar.fire_event"] * 2}
