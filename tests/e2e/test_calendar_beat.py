"""End to end: the calendar carried out by real Beat and worker processes (no eager mode)."""

import os
import signal
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from cohorts import services
from cohorts.models import Release
from notifications.models import Notification
from programs.services import program_load
from submissions.models import WindowTransition
from tasks.calendar import fire_event
from tests.conftest import CELERY, wait_for, worker_argv

pytestmark = pytest.mark.e2e

WEEK_IN_20_SECONDS = 7 * 24 * 3600 / 20
PROGRAM = {
    "slug": "e2e",
    "name": "E2E program",
    "defaults": {"reminders": ["1d"]},
    "units": [
        {
            "key": "week-0",
            "title": "Week 0",
            "unlock": "week 0 mon 09:00",
            "projects": [
                {
                    "key": "p0",
                    "title": "P0",
                    "opens": "week 0 mon 09:00",
                    "due": "week 0 wed 09:00",
                    "cutoff": "week 0 thu 09:00",
                }
            ],
        },
        {"key": "week-1", "title": "Week 1", "unlock": "week 1 mon 09:00"},
        {"key": "week-2", "title": "Week 2", "unlock": "week 2 mon 09:00"},
    ],
}


def monday_this_week() -> date:
    today = datetime.now(tz=UTC).date()
    return today - timedelta(days=today.weekday())


@pytest.fixture
def program(transactional_db):
    return program_load(data=PROGRAM, source="e2e.yaml").program


def rehearsal(program, name="Rehearsal", speed=WEEK_IN_20_SECONDS):
    cohort = services.cohort_create(
        program=program, name=name, start_date=monday_this_week(), timezone="Africa/Lagos", speed=speed
    )
    for email in ("ada@example.com", "bob@example.com"):
        services.enrollment_create(cohort=cohort, email=email)
    return cohort


def done_keys(cohort):
    return set(cohort.events.filter(done_at__isnull=False).values_list("key", flat=True))


def test_beat_carries_out_a_rehearsal_calendar_exactly_once(
    program, celery_worker_process, celery_beat_process
):
    # given a cohort playing a week every 20 s, with Beat and a worker running
    cohort = rehearsal(program)
    week_0 = {"unlock:week-0", "open:p0", "remind:p0:1d", "due:p0", "close:p0"}
    # when week 0 plays (its close is 3 days in: about 10 s after the start)
    wait_for(
        lambda: week_0 <= done_keys(cohort),
        40,
        "week 0's events",
        [celery_beat_process, celery_worker_process],
    )
    # then each effect happened once
    assert Release.objects.filter(cohort=cohort).count() == 1
    assert Notification.objects.filter(channel="email", kind="unit_unlocked").count() == 2
    assert Notification.objects.filter(channel="email", kind="reminder").count() == 2
    assert Notification.objects.filter(channel="email", kind="window_closed").count() == 2
    # and sending the same event again (a retry, a duplicate message) changes nothing
    assert fire_event.delay(cohort.pk, "unlock:week-0").get(timeout=20) == "already"
    assert fire_event.delay(cohort.pk, "unlock:week-0").get(timeout=20) == "already"
    assert Notification.objects.filter(channel="email", kind="unit_unlocked").count() == 2
    assert "Sending due task cohort-" in celery_beat_process.log()


def test_an_event_moved_in_the_admin_fires_at_its_new_time(
    program, celery_worker_process, celery_beat_process
):
    # given a cohort in real time whose week 2 is days away
    cohort = rehearsal(program, name="Real time", speed=1)
    event = cohort.events.get(key="unlock:week-2")
    assert event.fire_at > datetime.now(tz=UTC) + timedelta(days=1)
    # when staff move it to three seconds from now
    new_time = datetime.now(tz=UTC) + timedelta(seconds=3)
    services.cohort_event_move(event=event, at=new_time)
    # then Beat picks the edit up and the worker carries it out within seconds of the new time
    wait_for(lambda: "unlock:week-2" in done_keys(cohort), 20, "the moved event", [celery_beat_process])
    done_at = cohort.events.get(key="unlock:week-2").done_at
    assert new_time - timedelta(seconds=2) <= done_at <= new_time + timedelta(seconds=10)
    assert Release.objects.filter(cohort=cohort, unit__key="week-2").count() == 1


def many_units_program(units: int) -> dict:
    """A program of `units` weeks, each with a project: open, two reminders, due and close."""
    return {
        "slug": "many",
        "name": "Many events",
        "defaults": {"reminders": ["1d", "1h"]},
        "units": [
            {
                "key": f"week-{w}",
                "title": f"Week {w}",
                "unlock": f"week {w} mon 09:00",
                "projects": [
                    {
                        "key": f"p{w}",
                        "title": f"P{w}",
                        "opens": f"week {w} mon 09:00",
                        "due": f"week {w} wed 09:00",
                        "cutoff": f"week {w} thu 09:00",
                    }
                ],
            }
            for w in range(units)
        ],
    }


def test_after_beat_downtime_overdue_events_run_in_due_order_on_parallel_workers(
    transactional_db, start_process, redis_client
):
    # given a rehearsal of 12 weeks (72 events) whose whole calendar falls due while Beat is down
    program = program_load(data=many_units_program(12), source="many.yaml").program
    cohort = rehearsal(program, name="Downtime", speed=12 * 7 * 24 * 3600 / 2)  # 12 weeks in 2 s
    last = cohort.events.order_by("-fire_at").first().fire_at
    wait_for(lambda: datetime.now(tz=UTC) > last + timedelta(seconds=1), 30, "the whole calendar to fall due")
    # when a worker with four processes and Beat start: Beat sends every overdue entry at once (the
    # default re-arm window, no reconciler needed)
    worker = start_process("worker", worker_argv(concurrency=4))
    worker.wait_for_line("ready.", timeout=60)
    beat = start_process("beat", [CELERY, "-A", "config", "beat", "-l", "INFO"])
    wait_for(
        lambda: not cohort.events.filter(done_at__isnull=True).exists(), 60, "every event", [beat, worker]
    )
    # then every effect happened once, and in due order within the cohort: each window was recorded
    # opened, then due, then closed, week after week, whatever process ran which message
    transitions = WindowTransition.objects.filter(cohort=cohort).order_by("pk")
    assert list(transitions.values_list("project__key", "kind")) == [
        (f"p{w}", kind) for w in range(12) for kind in ("open", "due", "close")
    ]
    assert list(Release.objects.filter(cohort=cohort).order_by("pk").values_list("unit__key", flat=True)) == [
        f"week-{w}" for w in range(12)
    ]
    # and no reminder was sent after its due: caught up late, they were skipped
    assert set(cohort.events.filter(kind="remind").values_list("outcome", flat=True)) == {"skipped"}
    assert not Notification.objects.filter(channel="email", kind="reminder").exists()
    assert Notification.objects.filter(channel="email", kind="window_closed").count() == 12 * 2


def test_a_standby_beat_takes_over_when_the_leader_dies(
    program, celery_worker_process, start_process, monkeypatch
):
    monkeypatch.setenv("NEXUS_BEAT_LOCK_TTL", "3")
    leader = start_process("beat-a", [CELERY, "-A", "config", "beat", "-l", "INFO"])
    wait_for(lambda: "now the leader" in leader.log(), 30, "beat-a to lead", [leader])
    standby = start_process("beat-b", [CELERY, "-A", "config", "beat", "-l", "INFO"])
    wait_for(lambda: "beat: Starting..." in standby.log(), 30, "beat-b to start", [standby])
    time.sleep(2)
    assert "now the leader" not in standby.log()
    # when the leader dies without a word
    os.killpg(leader.popen.pid, signal.SIGKILL)
    leader.popen.wait()
    # and an event falls due a few seconds later
    cohort = rehearsal(program, name="After failover", speed=1)
    new_time = datetime.now(tz=UTC) + timedelta(seconds=4)
    services.cohort_event_move(event=cohort.events.get(key="unlock:week-2"), at=new_time)
    # then the standby takes the lock and carries it out, once
    wait_for(lambda: "unlock:week-2" in done_keys(cohort), 30, "the standby to fire", [standby])
    assert "now the leader" in standby.log()
    assert f"cohort-{cohort.pk}:unlock:week-2" in standby.log()
    assert Release.objects.filter(cohort=cohort, unit__key="week-2").count() == 1
