"""End to end (R4): the worker and Beat ride out a Redis restart that loses everything Redis held.

The test owns a redis-server of its own (no persistence) and SIGKILLs it while a rehearsal calendar is
playing, then starts a new, empty one on the same port. Messages queued in Redis are gone; Beat's sends
during the outage fail and are sent again; the reconciler (every 3 s here) catches up the rest. Every
event must be done exactly once, by the same worker process, within two minutes of Redis coming back.

Issue #10: on Celery 5.7.0 the worker died here ("Unrecoverable error: AttributeError('NoneType' object
has no attribute 'hostname')") when a task was in flight: after collect() it closes the connection again,
and the Redis channel's restore of the unacknowledged message needs the transport's client, already gone.
The first test is the guard against locking such a version again.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cohorts.models import Release
from config import embedded
from notifications.models import Notification
from programs.services import program_load
from submissions.models import WindowTransition
from tests.conftest import CELERY, Proc, use_redis, wait_for, worker_argv
from tests.e2e.test_calendar_beat import many_units_program, rehearsal

pytestmark = pytest.mark.e2e

UNITS = 8
# A week in 5 s: its five instants (unlock + open, two reminders, due, close) fall about a second apart.
SPEED = 7 * 24 * 3600 / 5
OUTAGE = 10.0  # seconds Redis stays down, as in the issue
RECOVERY_BOUND = 120.0  # the bound: everything done within 2 minutes of Redis coming back
RECONCILE_EVERY = "3"

RECEIVED = re.compile(r"Task nexus\.calendar\.fire_event\[([0-9a-f-]+)\] received")
FINISHED = re.compile(r"Task [\w.]+\[[0-9a-f-]+\] (succeeded|failed|retry|raised)")
ANY_RECEIVED = re.compile(r"Task [\w.]+\[[0-9a-f-]+\] received")


class OwnRedis:
    """A redis-server this test owns: SIGKILL it, then start a new, empty one on the same port."""

    def __init__(self, run_dir: Path) -> None:
        self.binary = embedded.find_redis_server()
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.run_dir),
                "--logfile",
                str(self.run_dir / f"redis-{self.starts}.log"),
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers_ping, 10, f"redis-server on port {self.port}", every=0.05)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # SIGKILL: no shutdown, no save
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path: Path, session_redis: str, monkeypatch) -> Iterator[OwnRedis]:
    """This test's own Redis, for this process (settings, Celery app) and the worker and Beat it starts."""
    monkeypatch.setenv("NEXUS_RECONCILE_EVERY", RECONCILE_EVERY)
    server = OwnRedis(tmp_path / "redis")
    server.start()
    use_redis(server.url)
    yield server
    server.kill()
    use_redis(session_redis)


def pool_children(worker: Proc) -> list[int]:
    """The worker's prefork pool processes (children of its main process)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == worker.popen.pid:
            children.append(int(stat.parent.name))
    return children


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def idle(worker: Proc) -> bool:
    log = worker.log()
    return len(ANY_RECEIVED.findall(log)) == len(FINISHED.findall(log))


def kill_redis_with_a_task_in_flight(redis: OwnRedis, worker: Proc) -> str:
    """SIGKILL Redis while the worker holds a fire_event it received and has not acknowledged.

    Probe, no product change: freeze the pool processes while they are idle, wait until the worker
    hands them the next fire_event (its "received" line; the message is unacknowledged, acks_late),
    kill Redis, then let the pool run the task, which finishes with the broker gone. Returns its id.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        wait_for(lambda: idle(worker), 20, "the worker to be idle", [worker], every=0.01)
        children = pool_children(worker)
        signal_all(children, signal.SIGSTOP)
        before = len(RECEIVED.findall(worker.log()))
        if not idle(worker):  # a task went in between the look and the stop: try again
            signal_all(children, signal.SIGCONT)
            continue
        try:
            wait_for(lambda n=before: len(RECEIVED.findall(worker.log())) > n, 15, "a fire_event", [worker])
            redis.kill()
        finally:
            signal_all(children, signal.SIGCONT)
        return RECEIVED.findall(worker.log())[before]
    raise AssertionError("never caught the worker idle")


def kill_redis_between_tasks(redis: OwnRedis, worker: Proc) -> None:
    """SIGKILL Redis right after the worker finished a fire_event, with nothing in flight."""
    done = len(re.findall(r"Task nexus\.calendar\.fire_event\[[0-9a-f-]+\] succeeded", worker.log()))
    wait_for(
        lambda: (
            len(re.findall(r"Task nexus\.calendar\.fire_event\[[0-9a-f-]+\] succeeded", worker.log())) > done
            and idle(worker)
        ),
        30,
        "a fire_event to finish",
        [worker],
        every=0.01,
    )
    redis.kill()


def play_and_restart(redis, start_process, kill, beats=1, *, pause_leader=False):
    """Play a rehearsal, kill Redis the given way once it is a few weeks in, restart it empty; check."""
    worker = start_process("worker", worker_argv())
    worker.wait_for_line("ready.", timeout=60)
    beat_procs = []
    for n in range(beats):
        beat = start_process(f"beat-{n}", [CELERY, "-A", "config", "beat", "-l", "INFO"])
        beat.wait_for_line("beat: Starting...", timeout=60)
        beat_procs.append(beat)
    procs = [worker, *beat_procs]
    worker_pid = worker.popen.pid

    program = program_load(data=many_units_program(UNITS), source="restart.yaml").program
    cohort = rehearsal(program, name="Broker restart", speed=SPEED)
    events = cohort.events.count()
    assert events == UNITS * 6
    # given the calendar is playing and a couple of weeks are done
    wait_for(lambda: cohort.events.filter(done_at__isnull=False).count() >= 8, 60, "week 1 to play", procs)
    # when Redis dies (the given way), stays down, and comes back empty on the same port
    in_flight = kill(redis, worker)
    killed_at = datetime.now(tz=UTC)
    time.sleep(OUTAGE)
    if pause_leader:
        # The leader stalls through the restart (the lock is gone with the rest of Redis): a standby
        # must take over, and the old leader, once it runs again, must stand by and send nothing.
        (leader,) = [b for b in beat_procs if "now the leader" in b.log()]
        os.kill(leader.popen.pid, signal.SIGSTOP)
        try:
            redis.start()
            back_at = datetime.now(tz=UTC)
            standby = next(b for b in beat_procs if b is not leader)
            wait_for(lambda: "now the leader" in standby.log(), 30, "the standby to lead", procs)
        finally:
            os.kill(leader.popen.pid, signal.SIGCONT)
        wait_for(lambda: "now a standby" in leader.log(), 30, "the old leader to stand by", procs)
    else:
        redis.start()
        back_at = datetime.now(tz=UTC)
    # then every event is done within two minutes, by the same worker process
    wait_for(
        lambda: (
            not cohort.events.filter(done_at__isnull=True).exists()
            or worker.popen.poll() is not None
            or "Unrecoverable error" in worker.log()
        ),
        RECOVERY_BOUND,
        "every event to be done",
        procs,
        every=0.5,
    )
    log = worker.log()
    assert worker.popen.poll() is None, f"the worker exited; its log:\n{log[-4000:]}"
    assert worker.popen.pid == worker_pid
    assert "Unrecoverable error" not in log
    assert "Connection to broker lost" in log  # it did see the outage
    assert not cohort.events.filter(done_at__isnull=True).exists()
    # and each effect happened once: a release per unit, a transition per (project, kind)
    releases = Counter(Release.objects.filter(cohort=cohort).values_list("unit__key", flat=True))
    assert releases == Counter({f"week-{w}": 1 for w in range(UNITS)})
    transitions = Counter(WindowTransition.objects.filter(cohort=cohort).values_list("project__key", "kind"))
    assert transitions == Counter({(f"p{w}", k): 1 for w in range(UNITS) for k in ("open", "due", "close")})
    assert Notification.objects.filter(channel="email", kind="unit_unlocked").count() == UNITS * 2
    assert Notification.objects.filter(channel="email", kind="window_closed").count() == UNITS * 2

    # Recovery: from the kill to the last event that fell due before Redis was back being done.
    caught_up = max(
        cohort.events.filter(fire_at__lte=back_at).values_list("done_at", flat=True), default=killed_at
    )
    last = max(cohort.events.values_list("done_at", flat=True))
    print(  # shown with -s: the numbers the issue asks for
        f"\nR4 recovery: outage {OUTAGE:.0f} s; kill -> catch-up done {(caught_up - killed_at).total_seconds():.1f} s "
        f"(Redis back -> catch-up {(caught_up - back_at).total_seconds():.1f} s); last event done "
        f"{(last - back_at).total_seconds():.1f} s after Redis was back"
    )
    assert last - back_at <= timedelta(seconds=RECOVERY_BOUND)
    if in_flight:
        # the probe did catch a task in flight: received before the loss, not finished by then
        lost = log.index("Connection to broker lost")
        assert log.index(f"fire_event[{in_flight}] received") < lost
        assert f"fire_event[{in_flight}] succeeded" not in log[:lost]
    return cohort, worker, beat_procs, back_at


def test_worker_rides_out_a_redis_restart_with_a_task_in_flight(transactional_db, own_redis, start_process):
    play_and_restart(own_redis, start_process, kill_redis_with_a_task_in_flight)


def test_worker_rides_out_a_redis_restart_between_tasks(transactional_db, own_redis, start_process):
    play_and_restart(own_redis, start_process, kill_redis_between_tasks)


SENT = re.compile(r"Scheduler: Sending due task (cohort-\d+:\S+) ")


def test_two_beats_lose_the_lock_in_the_outage_and_never_double_send(
    transactional_db, own_redis, start_process, monkeypatch
):
    monkeypatch.setenv("NEXUS_BEAT_LOCK_TTL", "3")
    cohort, _, beats, back_at = play_and_restart(
        own_redis, start_process, kill_redis_between_tasks, beats=2, pause_leader=True
    )
    # then, once Redis is back (the lock gone with everything else), one Beat leads and each entry that
    # fell due afterwards went out once, from one Beat
    after = {
        f"cohort-{cohort.pk}:{key}"
        for key in cohort.events.filter(fire_at__gt=back_at + timedelta(seconds=5)).values_list(
            "key", flat=True
        )
    }
    sends = Counter(name for beat in beats for name in SENT.findall(beat.log()) if name in after)
    assert after, "the calendar ended before Redis came back: nothing to check"
    doubled = {name: n for name, n in sends.items() if n > 1}
    assert not doubled, f"sent more than once: {doubled}"
    assert all("now the leader" in beat.log() for beat in beats)  # each led once: before and after
