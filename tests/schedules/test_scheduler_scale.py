"""NexusScheduler at scale: horizon reads, diffed reloads, batched sends and writes (correctness only)."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from schedules import entries
from schedules import scheduler as scheduler_module
from tasks.ops import PROBE_PREFIX
from tests.schedules.helpers import now, one_off, sent

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_due_one_offs_are_claimed_in_one_update_and_sent_once(beat, redis_client):
    # given three one-offs that fell due a moment ago and one due tomorrow
    due = now() - timedelta(seconds=1)
    for name in ("a", "b", "c"):
        one_off(name, due)
    one_off("later", now() + timedelta(days=1))
    scheduler = beat()
    # when Beat ticks
    with CaptureQueriesContext(connection) as queries:
        scheduler.tick()
    # then the three go out together, and only they
    assert sorted(sent(redis_client)) == ["a", "b", "c"]
    # and all three were claimed (disabled, run recorded) by one conditional UPDATE before going out
    claims = [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "RETURNING" in q["sql"]]
    assert len(claims) == 1, claims
    for task in PeriodicTask.objects.filter(name__in="abc"):
        assert task.enabled is False
        assert task.total_run_count == 1
        assert task.last_run_at is not None
    assert PeriodicTask.objects.get(name="later").enabled is True
    # and ticking again, after a reload, sends nothing more
    PeriodicTasks.update_changed()
    scheduler._next_poll = 0.0
    scheduler.tick()
    scheduler.sync()
    scheduler.tick()
    assert sorted(sent(redis_client)) == ["a", "b", "c"]


def test_a_one_off_is_not_sent_while_its_claim_fails_and_once_after(beat, redis_client, monkeypatch):
    # given a due one-off, and a database that refuses the claim (a lock held elsewhere)
    one_off("slow-write", now() - timedelta(seconds=1))
    real_claim = scheduler_module.claim

    def refuse(*args: object, **kwargs: object) -> set[int]:
        raise OperationalError("canceling statement due to lock timeout")

    monkeypatch.setattr(scheduler_module, "SEND_RETRY", 0.0)
    monkeypatch.setattr(scheduler_module, "claim", refuse)
    scheduler = beat()
    # when Beat ticks, and keeps reloading a schedule that still shows it enabled
    scheduler.tick()
    for _ in range(3):
        PeriodicTasks.update_changed()
        scheduler._next_poll = 0.0
        scheduler.sync()
        scheduler.tick()
    # then nothing went out: an unclaimed entry is never sent
    assert sent(redis_client) == []
    assert PeriodicTask.objects.get(name="slow-write").enabled is True
    # and once the database takes the claim, the entry goes out exactly once
    monkeypatch.setattr(scheduler_module, "claim", real_claim)
    scheduler.tick()
    PeriodicTasks.update_changed()
    scheduler._next_poll = 0.0
    scheduler.tick()
    assert sent(redis_client) == ["slow-write"]
    assert PeriodicTask.objects.get(name="slow-write").enabled is False


def test_an_entry_moved_later_is_not_sent_at_its_old_time(beat, redis_client):
    # given a calendar entry due in a second, already in Beat's memory; Beat's regular poll is far
    # away, so only the check right before sending can see the edit
    old_time = now() + timedelta(seconds=1)
    record = entries.EventRecord(
        name="cohort-1:unlock:week-1",
        task="nexus.ops.mark",
        kwargs={"key": "moved"},
        instant=old_time,
        enabled=True,
        queue="calendar",
    )
    entries.sync(prefix="cohort-1:", records=[record])
    scheduler = beat()
    scheduler.tick()
    assert [e.name for e in scheduler._book.entries.values()] == ["cohort-1:unlock:week-1"]
    scheduler.poll_interval = 3600
    scheduler._next_poll = time.time() + 3600
    # when staff move it a minute later (the way cohort edits do: queryset updates, no save())
    moved = dataclasses.replace(record, instant=old_time + timedelta(minutes=1))
    assert entries.sync(prefix="cohort-1:", records=[moved]).updated == 1
    time.sleep(max(0.0, (old_time - now()).total_seconds()) + 0.1)
    scheduler.tick()
    # then nothing went out at the old time, and Beat holds the entry at its new time
    assert sent(redis_client) == []
    (entry,) = scheduler._book.entries.values()
    assert entry.clocked_time == old_time + timedelta(minutes=1)


def test_an_entry_moved_earlier_fires_at_its_new_time_even_after_it_fired(beat, redis_client):
    # given an entry that already fired and was disabled
    first = now() - timedelta(seconds=1)
    record = entries.EventRecord(
        name="cohort-2:open:p0", task="nexus.ops.mark", kwargs={"key": "again"}, instant=first, enabled=True
    )
    entries.sync(prefix="cohort-2:", records=[record])
    scheduler = beat()
    scheduler.tick()
    scheduler.sync()
    assert PeriodicTask.objects.get(name="cohort-2:open:p0").enabled is False
    # when the calendar moves it to a new time that is already due (sync re-arms it)
    moved = dataclasses.replace(record, instant=first + timedelta(milliseconds=500))
    entries.sync(prefix="cohort-2:", records=[moved])
    scheduler._next_poll = 0.0
    scheduler.tick()
    # then it goes out again, at its new time
    assert sent(redis_client, "default") == ["cohort-2:open:p0", "cohort-2:open:p0"]


def test_only_rows_in_the_horizon_are_read_and_only_changed_ones_rebuilt(beat):
    # given 30 entries due within the horizon and 30 due next week
    soon = now() + timedelta(seconds=60)
    for i in range(30):
        one_off(f"soon-{i}", soon + timedelta(seconds=i))
        one_off(f"next-week-{i}", soon + timedelta(days=7))
    scheduler = beat()
    scheduler.tick()
    # then only those in the horizon are in memory
    book = scheduler._book.entries
    assert {e.name for e in book.values()} == {f"soon-{i}" for i in range(30)}
    before = {e.name: e for e in book.values()}
    # when staff edit one entry's arguments in the admin (save()) and move another's clocked schedule
    edited = PeriodicTask.objects.get(name="soon-3")
    edited.kwargs = json.dumps({"note": "edited"})
    edited.save()
    clocked = PeriodicTask.objects.get(name="soon-7").clocked
    clocked.clocked_time = soon + timedelta(seconds=45)
    clocked.save()
    scheduler._next_poll = 0.0
    with CaptureQueriesContext(connection) as queries:
        scheduler.tick()
    # then the reload read the clocked entries with one range query over the horizon
    clocked_reads = [
        q["sql"]
        for q in queries
        if "django_celery_beat_clockedschedule" in q["sql"] and "clocked_time" in q["sql"]
    ]
    assert len(clocked_reads) == 1, clocked_reads
    assert 'clocked_time" >=' in clocked_reads[0]
    assert 'clocked_time" <=' in clocked_reads[0]
    # and rebuilt just the two edited entries; every other entry is the same object as before
    after = {e.name: e for e in scheduler._book.entries.values()}
    assert after.keys() == before.keys()
    rebuilt = {name for name in after if after[name] is not before[name]}
    assert rebuilt == {"soon-3", "soon-7"}
    assert after["soon-3"].kwargs == {"note": "edited"}
    assert after["soon-7"].clocked_time == soon + timedelta(seconds=45)


def test_a_deleted_or_disabled_entry_leaves_memory_on_the_next_poll(beat, redis_client):
    # given two entries due in two seconds, in Beat's memory
    at = now() + timedelta(seconds=2)
    one_off("deleted", at)
    one_off("disabled", at)
    scheduler = beat()
    scheduler.tick()
    assert len(scheduler._book.entries) == 2
    # when one is deleted and the other disabled in the admin
    PeriodicTask.objects.get(name="deleted").delete()
    disabled = PeriodicTask.objects.get(name="disabled")
    disabled.enabled = False
    disabled.save()
    time.sleep(2.1)
    scheduler.tick()
    # then neither fires
    assert scheduler._book.entries == {}
    assert sent(redis_client) == []


def test_interval_entries_still_fire_and_record_their_runs(beat, redis_client):
    # given an every-second interval entry next to clocked ones
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="every-second", task="nexus.ops.mark", interval=every_second, args=json.dumps(["tick"])
    )
    one_off("clocked", now() + timedelta(days=1))
    scheduler = beat()
    # when Beat runs for three and a half seconds
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        time.sleep(min(scheduler.tick(), 0.2))
    scheduler.sync()
    # then the interval entry went out through the stock path (at least twice) and its runs were saved
    fired = sent(redis_client, "default")
    assert fired.count("every-second") >= 2
    task = PeriodicTask.objects.get(name="every-second")
    assert task.enabled is True
    assert task.last_run_at is not None
    assert task.total_run_count >= 2
    assert "clocked" not in fired


def test_an_expired_one_off_is_disabled_without_being_sent(beat, redis_client):
    # given a one-off whose expiry passed before it came due
    task = one_off("expired", now() - timedelta(seconds=1))
    task.expires = now() - timedelta(milliseconds=500)
    task.save()
    scheduler = beat()
    # when Beat ticks and records what it is done with
    scheduler.tick()
    scheduler.sync()
    # then it was not sent, and is disabled without a run counted
    assert sent(redis_client) == []
    task.refresh_from_db()
    assert task.enabled is False
    assert task.total_run_count == 0


def test_a_standby_beat_reads_and_sends_nothing(beat, redis_client):
    # given one Beat holding the lock and a second one standing by
    one_off("once", now() - timedelta(seconds=1))
    leader, standby = beat(), beat()
    leader.tick()
    # when the standby ticks
    standby.tick()
    # then only the leader sent the entry, and the standby holds no schedule in memory
    assert sent(redis_client) == ["once"]
    assert standby._book.entries == {}
    assert standby._lock.held is False


@pytest.mark.e2e
def test_a_burst_due_in_the_same_second_fires_each_entry_once(
    celery_worker_process, celery_beat_process, redis_client
):
    # given Beat and a worker running, and 40 one-offs due at the same instant three seconds from now
    due = now() + timedelta(seconds=3)
    for i in range(40):
        one_off(f"burst-{i}", due, queue="default")
    # when the instant passes
    deadline = time.monotonic() + 30
    keys = [PROBE_PREFIX + f"burst-{i}" for i in range(40)]
    while time.monotonic() < deadline and not all(redis_client.mget(keys)):
        time.sleep(0.2)
    # then the worker ran every one of them, none before its time
    fired = redis_client.mget(keys)
    assert all(fired), f"some never fired; beat log:\n{celery_beat_process.log()[-3000:]}"
    assert min(float(v) for v in fired) >= due.timestamp()
    # and Beat sent each once and disabled all of them in the database
    log = celery_beat_process.log()
    assert all(log.count(f"Sending due task burst-{i} ") == 1 for i in range(40))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and PeriodicTask.objects.filter(
        name__startswith="burst-", enabled=True
    ):
        time.sleep(0.2)
    assert not PeriodicTask.objects.filter(name__startswith="burst-", enabled=True).exists()
    assert set(
        PeriodicTask.objects.filter(name__startswith="burst-").values_list("total_run_count", flat=True)
    ) == {1}


def test_a_leader_whose_lock_ran_out_mid_tick_sends_nothing(beat, redis_client, settings):
    # given a leader that has loaded an entry about to fall due
    scheduler = beat()
    scheduler.tick()
    one_off("in-flight", now() + timedelta(seconds=0.3))
    PeriodicTasks.update_changed()
    scheduler.tick()
    # when its tick blocks past the lock's TTL and a standby takes the lock meanwhile
    redis_client.set(settings.NEXUS_BEAT_LOCK_KEY, "the-standby's-token")
    time.sleep(0.4)
    scheduler._tick_leader()
    # then this Beat does not send what the new leader now owns
    assert sent(redis_client) == []
    # and on its next tick it knows it is a standby
    scheduler.tick()
    assert scheduler._was_leader is False
    assert sent(redis_client) == []
