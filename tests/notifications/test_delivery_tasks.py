"""The tasks around delivery: a fired calendar event enqueues delivery chunks once its transaction commits,
each chunk's task claims and sends its rows once, the sweep leaves fresh rows to them, and Beat sweeps
every 30 s."""

import base64
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

LEARNERS = [f"l{i}@example.com" for i in range(5)]


def queued(redis_client, queue="notifications") -> list[tuple[str, list]]:
    """(task name, first argument) of every message waiting on the queue, oldest first."""
    messages = [json.loads(raw) for raw in reversed(redis_client.lrange(queue, 0, -1))]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0][0]) for m in messages]


def email_ids(cohort) -> list[int]:
    rows = Notification.objects.filter(enrollment__cohort=cohort, channel="email").order_by("pk")
    return list(rows.values_list("pk", flat=True))


def test_a_fired_event_enqueues_delivery_chunks_after_commit(
    make_cohort, redis_client, django_capture_on_commit_callbacks, settings
):
    # given a cohort of five whose first unlock is due, and chunks of two
    settings.NEXUS_NOTIFY_BATCH = 2
    cohort = make_cohort(learners=LEARNERS)
    event = cohort.events.get(key="unlock:week-0")
    with time_machine.travel(event.fire_at + timedelta(seconds=1), tick=False):
        # when its Beat entry's task runs, inside a transaction
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert fire_event(cohort.pk, "unlock:week-0") == "done"
        # then nothing is queued before the commit
        assert queued(redis_client) == []
        for callback in callbacks:
            callback()
        # and after it, one deliver task per chunk of the email rows (the in-app rows are already sent)
        ids = email_ids(cohort)
        assert len(ids) == 5
        assert queued(redis_client) == [
            ("nexus.notifications.deliver", ids[0:2]),
            ("nexus.notifications.deliver", ids[2:4]),
            ("nexus.notifications.deliver", ids[4:5]),
        ]
        # and running the same event again (nothing done) queues nothing more
        with django_capture_on_commit_callbacks(execute=True):
            assert fire_event(cohort.pk, "unlock:week-0") == "already"
        assert len(queued(redis_client)) == 3


def test_the_reconciler_enqueues_delivery_only_when_it_did_something(
    make_cohort, redis_client, django_capture_on_commit_callbacks
):
    cohort = make_cohort()
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile() == 0
    assert queued(redis_client) == []
    after_open = cohort.events.get(key="open:p0").fire_at + timedelta(seconds=1)
    with time_machine.travel(after_open, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert reconcile() >= 1
    assert {name for name, _ in queued(redis_client)} == {"nexus.notifications.deliver"}


def test_a_deliver_task_sends_its_chunk_once_even_when_run_twice(make_cohort):
    # given an unlock's email rows, pending
    cohort = make_cohort(learners=LEARNERS)
    with time_machine.travel(cohort.events.get(key="unlock:week-0").fire_at + timedelta(seconds=1)):
        fire_event(cohort.pk, "unlock:week-0")
        ids = email_ids(cohort)
        # when the chunk's task runs, and runs again (a redelivered message)
        first = notification_tasks.deliver(ids[:3])
        again = notification_tasks.deliver(ids[:3])
    # then its three rows went out once; the others wait for their own chunk
    assert first["sent"] == 3
    assert again["sent"] == 0
    assert sorted(m.to[0] for m in mail.outbox) == LEARNERS[:3]
    assert Notification.objects.filter(pk__in=ids[3:], status="pending").count() == 2


def test_the_sweep_leaves_fresh_rows_to_their_chunks_and_delivers_them_later(make_cohort, settings):
    # given an unlock's rows just written (their chunks' messages lost, say)
    cohort = make_cohort()
    fired = cohort.events.get(key="unlock:week-0").fire_at + timedelta(seconds=1)
    with time_machine.travel(fired, tick=False):
        fire_event(cohort.pk, "unlock:week-0")
        # when the periodic sweep runs at once, it leaves them to the fast path
        assert notification_tasks.sweep() == {"sent": 0, "retry": 0, "failed": 0, "lost": 0}
    # and once the grace has passed it delivers them
    later = fired + timedelta(seconds=settings.NEXUS_NOTIFY_SWEEP_GRACE + 1)
    with time_machine.travel(later, tick=False):
        assert notification_tasks.sweep() == {"sent": 2, "retry": 0, "failed": 0, "lost": 0}
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "bob@example.com"]
    assert set(Notification.objects.values_list("status", flat=True)) == {Notification.Status.SENT}


def test_beat_sweeps_the_outbox_every_30_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["nexus:notifications-sweep"]
    assert entry["task"] == notification_tasks.sweep.name == "nexus.notifications.sweep"
    assert entry["schedule"] == timedelta(seconds=30)
    assert entry["options"] == {"expire_seconds": 25}
    assert notification_tasks.deliver.name == "nexus.notifications.deliver"


def test_a_later_event_enqueues_only_its_own_rows_and_leaves_a_backlog_to_the_sweep(
    make_cohort, redis_client, django_capture_on_commit_callbacks
):
    # given week 0's emails still pending an hour after their unlock (their chunks were lost)
    cohort = make_cohort()
    week_0 = cohort.events.get(key="unlock:week-0")
    with time_machine.travel(week_0.fire_at + timedelta(seconds=1), tick=False):
        fire_event(cohort.pk, "unlock:week-0")
    redis_client.flushdb()
    old = set(email_ids(cohort))
    # when week 1 unlocks
    week_1 = cohort.events.get(key="unlock:week-1")
    after = week_1.fire_at + timedelta(seconds=1)
    with time_machine.travel(after, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert fire_event(cohort.pk, "unlock:week-1") == "done"
    # then its chunk holds the rows it wrote (week 1's, and the window events it caught up on) only;
    # week 0's are the sweep's
    [(name, ids)] = queued(redis_client)
    assert name == "nexus.notifications.deliver"
    assert set(ids) == set(email_ids(cohort)) - old
    assert not set(ids) & old
    assert Notification.objects.filter(pk__in=ids, kind="unit_unlocked", subject="week-1").count() == 2
