"""Real `celery beat` processes around due one-offs: a stalled and a killed leader, and two Beats that both
believe they lead. Sends are counted where they land, as messages in the broker's queue (no worker
consumes them), so a duplicate send shows even when the effect it would cause is idempotent."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_lib
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from tests.conftest import CELERY, wait_for
from tests.schedules.helpers import now, one_off, sent

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("transactional_db")]


def sends(client, prefix: str) -> Counter:
    return Counter(name for name in sent(client) if name.startswith(prefix))


def redis_db(n: int) -> str:
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{n}"))


def test_each_one_off_is_sent_once_across_a_stalled_and_a_killed_leader(
    start_process, redis_client, monkeypatch
):
    # given two Beats on one lock with a 3 s TTL, and one-offs due every half second for 16 s
    monkeypatch.setenv("NEXUS_BEAT_LOCK_TTL", "3")
    beat_a = start_process("beat-a", [CELERY, "-A", "config", "beat", "-l", "INFO"])
    wait_for(lambda: "now the leader" in beat_a.log(), 60, "beat-a to lead", [beat_a])
    beat_b = start_process("beat-b", [CELERY, "-A", "config", "beat", "-l", "INFO"])
    wait_for(lambda: "beat: Starting..." in beat_b.log(), 60, "beat-b to start", [beat_b])
    first = now() + timedelta(seconds=3)
    names = [f"handover-{i:02d}" for i in range(32)]
    for i, name in enumerate(names):
        one_off(name, first + timedelta(seconds=0.5 * i))
    procs = [beat_a, beat_b]

    # when the leader stalls (SIGSTOP) right after a send, with the next entries loaded and due meanwhile
    wait_for(lambda: len(sends(redis_client, "handover-")) >= 4, 30, "beat-a to send", procs)
    os.killpg(beat_a.popen.pid, signal.SIGSTOP)
    stalled_at = len(sends(redis_client, "handover-"))
    # and the standby takes over and sends, and then the stalled leader wakes with those entries in memory
    wait_for(lambda: "now the leader" in beat_b.log(), 30, "beat-b to take over", procs)
    wait_for(lambda: len(sends(redis_client, "handover-")) >= stalled_at + 3, 30, "beat-b to send", procs)
    os.killpg(beat_a.popen.pid, signal.SIGCONT)
    wait_for(lambda: "now a standby" in beat_a.log(), 30, "beat-a to step down", procs)
    # and then the new leader dies without a word right after a send, and the old one takes over again
    sent_before = len(sends(redis_client, "handover-"))
    wait_for(lambda: len(sends(redis_client, "handover-")) > sent_before, 30, "beat-b to send again", procs)
    os.killpg(beat_b.popen.pid, signal.SIGKILL)
    beat_b.popen.wait()
    wait_for(lambda: beat_a.log().count("now the leader") >= 2, 30, "beat-a to lead again", procs)
    wait_for(lambda: set(sends(redis_client, "handover-")) == set(names), 40, "every entry to be sent", procs)
    time.sleep(1.5)  # let a late duplicate, if any, land before counting

    # then each one-off was published exactly once, and each row records one run
    counts = sends(redis_client, "handover-")
    assert {name: n for name, n in counts.items() if n != 1} == {}
    assert set(counts) == set(names)
    runs = PeriodicTask.objects.filter(name__startswith="handover-").values_list("enabled", "total_run_count")
    assert set(runs) == {(False, 1)}
    # and both Beats did send some of them (the handovers really happened around due entries)
    assert "Sending due task handover-" in beat_a.log()
    assert "Sending due task handover-" in beat_b.log()


def test_two_beats_that_both_believe_they_lead_send_each_one_off_once(start_process, redis_client):
    # given two Beats that each hold a lock of their own (each on its own Redis database, the split brain a
    # Beat stalled past its lock's TTL is in until its next check), on one Beat database
    urls = [redis_db(1), redis_db(2)]
    clients = [redis_lib.Redis.from_url(url) for url in urls]
    for client in clients:
        client.flushdb()
    beats = [
        start_process(f"beat-{i}", ["env", f"REDIS_URL={url}", CELERY, "-A", "config", "beat", "-l", "INFO"])
        for i, url in enumerate(urls)
    ]
    for beat in beats:
        wait_for(lambda beat=beat: "now the leader" in beat.log(), 60, f"{beat.name} to lead", beats)
    # when 40 one-offs fall due at the same instant and 20 more over the next two seconds
    due = now() + timedelta(seconds=3)
    names = [f"split-{i:02d}" for i in range(40)]
    for name in names:
        one_off(name, due)
    for i in range(20):
        names.append(f"split-later-{i:02d}")
        one_off(names[-1], due + timedelta(seconds=0.1 * i))

    def total() -> Counter:
        return sends(clients[0], "split-") + sends(clients[1], "split-")

    wait_for(lambda: set(total()) == set(names), 40, "every entry to be sent", beats)
    time.sleep(1.5)  # let a late duplicate, if any, land before counting
    # then, across both Beats' brokers, each one-off was published exactly once
    counts = total()
    assert {name: n for name, n in counts.items() if n != 1} == {}
    assert set(counts) == set(names)
    runs = PeriodicTask.objects.filter(name__startswith="split-").values_list("enabled", "total_run_count")
    assert set(runs) == {(False, 1)}
    for client in clients:
        client.flushdb()
