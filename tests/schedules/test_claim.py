"""The claim that fences the Beat leader, on the real database: one claimer wins a row, the other sends nothing;
a publish that failed makes its entries due again, and none goes out twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from kombu.exceptions import KombuError
from kombu.transport import redis as kombu_redis

from schedules import scheduler as scheduler_module
from schedules.fastpath import Claim, ClockedEntry, claim, read_rows, release
from tests.schedules.helpers import now, one_off, sent

pytestmark = pytest.mark.usefixtures("transactional_db")


def claims_for(*tasks: PeriodicTask) -> list[Claim]:
    return [Claim(task.pk, task.clocked.clocked_time) for task in tasks]


def test_of_two_claimers_of_the_same_rows_only_the_first_wins(redis_client):
    # given twenty one-offs that fell due
    due = now() - timedelta(seconds=1)
    tasks = [one_off(f"row-{i}", due) for i in range(20)]
    first_at, second_at = now(), now() + timedelta(milliseconds=1)
    # when two Beats claim them one after the other
    first = claim(claims_for(*tasks), at=first_at)
    second = claim(claims_for(*tasks), at=second_at)
    # then the first wins every row and the second none
    assert first == {t.pk for t in tasks}
    assert second == set()
    # and each row is disabled with one run, stamped by the winner
    for task in PeriodicTask.objects.filter(pk__in=first):
        assert task.enabled is False
        assert task.total_run_count == 1
        assert task.last_run_at == first_at


def test_two_beats_claiming_at_the_same_moment_split_the_rows_without_overlap():
    # given fifty due one-offs, and two claimers on their own database connections started together
    due = now() - timedelta(seconds=1)
    tasks = [one_off(f"race-{i}", due) for i in range(50)]
    wanted = claims_for(*tasks)
    start = threading.Barrier(2)
    won: dict[str, set[int]] = {}
    errors: list[BaseException] = []

    def claimer(label: str, order: list[Claim]) -> None:
        try:
            start.wait(timeout=10)
            won[label] = claim(order, at=now(), lock_timeout_ms=20_000)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=claimer, args=("a", wanted)),
        threading.Thread(target=claimer, args=("b", list(reversed(wanted)))),
    ]
    # when both claim every row at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then every row was won exactly once
    assert errors == []
    assert won["a"] | won["b"] == {t.pk for t in tasks}
    assert won["a"] & won["b"] == set()
    assert set(
        PeriodicTask.objects.filter(pk__in=won["a"] | won["b"]).values_list("total_run_count", flat=True)
    ) == {1}


def test_a_claim_skips_rows_moved_disabled_or_deleted_since_they_were_read():
    # given four due one-offs as Beat read them
    due = now() - timedelta(seconds=1)
    kept, moved, disabled, deleted = (one_off(name, due) for name in ("kept", "moved", "disabled", "deleted"))
    read = claims_for(kept, moved, disabled, deleted)
    # when staff move one, disable one and delete one before Beat claims them
    moved.clocked.clocked_time = due + timedelta(minutes=5)
    moved.clocked.save()
    PeriodicTask.objects.filter(pk=disabled.pk).update(enabled=False)
    deleted.delete()
    won = claim(read, at=now())
    # then Beat wins only the row still as it read it; the moved one keeps its new time, enabled
    assert won == {kept.pk}
    moved.refresh_from_db()
    assert moved.enabled is True
    assert moved.total_run_count == 0


def test_an_expired_claim_disables_without_counting_a_run():
    task = one_off("expired", now() - timedelta(seconds=1))
    at = now()
    assert claim([Claim(task.pk, task.clocked.clocked_time, run=False)], at=at) == {task.pk}
    task.refresh_from_db()
    assert (task.enabled, task.total_run_count, task.last_run_at) == (False, 0, None)


def test_a_release_makes_an_unsent_claim_due_again_only_while_it_is_ours():
    # given two due one-offs, read and claimed by this Beat
    due = now() - timedelta(seconds=1)
    one_off("unsent", due)
    one_off("re-armed", due)
    entries = {e.name: e for e in (ClockedEntry.from_row(row) for row in read_rows(upper=now()))}
    at = now()
    assert claim([Claim(e.pk, e.clocked_time) for e in entries.values()], at=at) == {
        e.pk for e in entries.values()
    }
    # and one of them was re-armed and claimed by another Beat since (a manual re-enable)
    other = PeriodicTask.objects.filter(name="re-armed")
    other.update(enabled=True)
    assert claim([Claim(entries["re-armed"].pk, due)], at=at + timedelta(seconds=1)) == {
        entries["re-armed"].pk
    }
    # when this Beat releases both after its publish failed
    released = release(list(entries.values()), at=at)
    # then only the row still as its claim left it is due again, as it was before the claim
    assert released == {entries["unsent"].pk}
    unsent = PeriodicTask.objects.get(name="unsent")
    assert (unsent.enabled, unsent.total_run_count, unsent.last_run_at) == (True, 0, None)
    rearmed = other.get()
    assert (rearmed.enabled, rearmed.total_run_count) == (False, 2)
    # and the released row can be claimed again
    assert claim([Claim(unsent.pk, due)], at=now()) == {unsent.pk}


def test_a_stale_leader_that_still_believes_it_leads_sends_nothing_already_sent(
    beat, redis_client, monkeypatch
):
    # given a due one-off loaded by two Beats: the leader, and one that stalled past the lock's TTL and
    # has not yet noticed (its lock check passes: the split-brain the claim exists for)
    one_off("in-flight", now() - timedelta(seconds=1))
    leader, stale = beat(), beat()
    monkeypatch.setattr(stale._lock, "acquire_or_renew", lambda: True)
    stale._load_clocked(now().timestamp())
    assert [e.name for e in stale._book.entries.values()] == ["in-flight"]
    # (and has seen every change there is: nothing will make it re-read the row before it sends)
    stale._was_leader = True
    stale._last_timestamp = PeriodicTasks.last_change()
    stale._static_at = time.time()
    # when the leader sends it, then the stale Beat ticks with it due in memory
    leader.tick()
    stale.tick()
    # then it went out once; the stale Beat lost the claim and dropped it
    assert sent(redis_client) == ["in-flight"]
    assert stale._book.entries == {}
    assert PeriodicTask.objects.get(name="in-flight").total_run_count == 1


class BrokerDown:
    """Makes the Redis transport's pipelined publish fail on chosen flushes, the way a dropped broker
    connection does (kombu reports it as BatchPublishError); every other flush runs for real."""

    def __init__(self, monkeypatch, failing: set[int]) -> None:
        self.calls = 0
        self.failing = failing
        real = kombu_redis.PublishBatch.flush

        def flush(batch) -> None:
            self.calls += 1
            if self.calls in self.failing and batch._buffered:
                batch.discard()
                raise kombu_redis.BatchPublishError("Redis publish batch failed; delivery is uncertain")
            real(batch)

        monkeypatch.setattr(kombu_redis.PublishBatch, "flush", flush)


def test_entries_whose_publish_failed_go_out_on_a_later_tick_exactly_once(beat, redis_client, monkeypatch):
    # given five due one-offs sent two to a pipeline, and a broker that drops the second pipeline
    assert issubclass(kombu_redis.BatchPublishError, KombuError)
    due = now() - timedelta(seconds=1)
    names = [f"pub-{i}" for i in range(5)]
    for name in names:
        one_off(name, due)
    monkeypatch.setattr(scheduler_module, "SEND_CHUNK", 2)
    monkeypatch.setattr(scheduler_module, "SEND_RETRY", 0.0)
    BrokerDown(monkeypatch, failing={2})
    scheduler = beat()
    # when Beat ticks
    scheduler.tick()
    # then the pipelines that worked went out, and the entries of the failed one are due again
    first = sent(redis_client)
    assert len(first) == 3
    unsent = set(names) - set(first)
    assert len(unsent) == 2
    assert (
        set(PeriodicTask.objects.filter(enabled=True, name__in=names).values_list("name", flat=True))
        == unsent
    )
    assert unsent <= {e.name for e in scheduler._book.entries.values()}
    # when Beat ticks again, with the broker back
    scheduler.tick()
    scheduler.tick()
    # then each entry went out exactly once, and each counts one run
    assert sorted(sent(redis_client)) == names
    assert set(PeriodicTask.objects.filter(name__in=names).values_list("enabled", "total_run_count")) == {
        (False, 1)
    }


def test_a_failed_publish_after_losing_the_lock_is_left_for_the_new_leader(
    beat, redis_client, monkeypatch, settings
):
    # given a leader whose publish fails, and which then loses the lock
    one_off("handed-over", now() - timedelta(seconds=1))
    monkeypatch.setattr(scheduler_module, "SEND_RETRY", 0.0)
    old = beat()
    BrokerDown(monkeypatch, failing={1})
    old.tick()
    assert sent(redis_client) == []
    redis_client.delete(settings.NEXUS_BEAT_LOCK_KEY)
    new = beat()
    new.tick()  # the new leader takes the lock
    old.tick()  # the old one finds it is a standby
    new.tick()
    # then the entry went out once, from the new leader
    assert sent(redis_client) == ["handed-over"]
    assert old._was_leader is False


def test_an_unsent_claim_stays_disabled_while_its_release_fails(beat, redis_client, monkeypatch):
    # given a due one-off whose publish fails, on a database that then refuses the release
    one_off("stuck", now() - timedelta(seconds=1))
    monkeypatch.setattr(scheduler_module, "SEND_RETRY", 0.0)
    real_release = scheduler_module.release

    def refuse(*args: object, **kwargs: object) -> set[int]:
        raise OperationalError("canceling statement due to lock timeout")

    monkeypatch.setattr(scheduler_module, "release", refuse)
    BrokerDown(monkeypatch, failing={1})
    scheduler = beat()
    scheduler.tick()
    scheduler.tick()
    # then nobody sends it (its row stays claimed) and this Beat keeps it to release
    assert sent(redis_client) == []
    assert PeriodicTask.objects.get(name="stuck").enabled is False
    assert [e.name for e, _at in scheduler._unreleased] == ["stuck"]
    # when the database takes the release, the entry goes out once
    monkeypatch.setattr(scheduler_module, "release", real_release)
    scheduler.tick()
    scheduler.tick()
    assert sent(redis_client) == ["stuck"]
    assert scheduler._unreleased == []


def test_without_pipelining_only_the_messages_after_a_failed_publish_are_sent_again(
    beat, redis_client, monkeypatch
):
    # given a broker transport that publishes each message on its own (no pipelining), four due one-offs,
    # and a broker that refuses the third message once
    monkeypatch.setattr(kombu_redis.Channel, "supports_batch_publish", property(lambda self: False))
    monkeypatch.setattr(scheduler_module, "SEND_RETRY", 0.0)
    due = now() - timedelta(seconds=1)
    names = [f"imm-{i}" for i in range(4)]
    for i, name in enumerate(names):
        one_off(name, due + timedelta(milliseconds=i))
    refused: list[str] = []
    real_publish = kombu_redis.Channel.basic_publish

    def basic_publish(channel, message, *args: object, **kwargs: object):
        name = message["headers"].get("periodic_task_name")
        if name == "imm-2" and not refused:
            refused.append(name)
            raise RuntimeError("the broker refused the message")
        return real_publish(channel, message, *args, **kwargs)

    monkeypatch.setattr(kombu_redis.Channel, "basic_publish", basic_publish)
    scheduler = beat()
    # when Beat ticks, and ticks again
    scheduler.tick()
    assert sent(redis_client) == ["imm-0", "imm-1"]
    scheduler.tick()
    # then the two that went out are not sent again, and the refused one and the one after it are
    assert refused == ["imm-2"]
    assert sorted(sent(redis_client)) == names
    assert set(PeriodicTask.objects.filter(name__in=names).values_list("total_run_count", flat=True)) == {1}
