"""The tasks around delivery: a fired calendar event enqueues a sweep once its transaction commits, the
sweep task delivers, and Beat sweeps every 30 s."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from notifications.models import Notification
from tasks import notifications as notification_tasks
from tasks.calendar import fire_event, reconcile

pytestmark = pytest.mark.django_db


def queued(redis_client, queue="notifications") -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in redis_client.lrange(queue, 0, -1)]


def test_a_fired_event_enqueues_a_sweep_after_commit(
    make_cohort, redis_client, django_capture_on_commit_callbacks
):
    # given a cohort whose first unlock is due
    cohort = make_cohort()
    event = cohort.events.get(key="unlock:week-0")
    with time_machine.travel(event.fire_at + timedelta(seconds=1), tick=False):
        # when its Beat entry's task runs, inside a transaction
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert fire_event(cohort.pk, "unlock:week-0") == "done"
        # then nothing is queued before the commit
        assert queued(redis_client) == []
        for callback in callbacks:
            callback()
        # and the sweep is queued after it
        assert queued(redis_client) == ["nexus.notifications.sweep"]
        # and running the same event again (nothing done) queues nothing more
        with django_capture_on_commit_callbacks(execute=True):
            assert fire_event(cohort.pk, "unlock:week-0") == "already"
        assert queued(redis_client) == ["nexus.notifications.sweep"]


def test_the_reconciler_enqueues_a_sweep_only_when_it_did_something(
    make_cohort, redis_client, django_capture_on_commit_callbacks
):
    cohort = make_cohort()
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile() == 0
    assert queued(redis_client) == []
    after_open = cohort.events.get(key="open:p0").fire_at + timedelta(seconds=1)
    with time_machine.travel(after_open, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert reconcile() >= 1
    assert queued(redis_client) == ["nexus.notifications.sweep"]


def test_the_sweep_task_delivers_the_pending_outbox(make_cohort):
    cohort = make_cohort()
    with time_machine.travel(
        cohort.events.get(key="unlock:week-0").fire_at + timedelta(seconds=1), tick=False
    ):
        fire_event(cohort.pk, "unlock:week-0")
        assert notification_tasks.sweep() == {"sent": 2, "retry": 0, "failed": 0}
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "bob@example.com"]
    assert set(Notification.objects.values_list("status", flat=True)) == {Notification.Status.SENT}


def test_beat_sweeps_the_outbox_every_30_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["nexus:notifications-sweep"]
    assert entry["task"] == notification_tasks.sweep.name == "nexus.notifications.sweep"
    assert entry["schedule"] == timedelta(seconds=30)
    assert entry["options"] == {"expire_seconds": 25}
    assert notification_tasks.deliver.name == "nexus.notifications.deliver"
