"""Benchmark P2: Celery Beat at scale, django-celery-beat's stock DatabaseScheduler against NexusScheduler.

    .venv/bin/python benchmarks/beat_scale.py [--quick] [--events N] [--cohorts N] [--edits-per-second N]
        [--burst N] [--database-url URL] [--redis-url URL] [--no-index]

One run, one PostgreSQL database (created fresh), one Redis DB (flushed), one real worker process. N clocked
one-off PeriodicTasks are seeded with COPY, the way entries.sync names them (`cohort-<id>:<key>`, kwargs
{cohort_id, event}, queue "calendar"); their task is `bench.probe` (benchmarks/probe.py), which notes in Redis
when a worker started it. Then, for each scheduler in turn, against the same entries reset to the same
relative times, a real `celery -A config beat -S <scheduler>` process runs through:

  1. window: W entries due at random instants over a window (W/len per second) while an editor makes
     --edits-per-second edits through schedules.entries.sync (the path every cohort edit takes):
     4 in 5 move a far-future entry to "now" (edit-live = its start on a worker - the edit's commit),
     1 in 5 moves a window entry due in 1.5-3 s to next month (it must not fire at its old time);
  2. burst: B entries due at the same instant (every cohort's Monday 09:00);
  3. Beat's RSS (VmRSS, and VmHWM for the peak) from /proc.

Fire lag is (probe start - due time) over the window entries; burst_last_s is (last start - due). Progress
goes to stdout; the last line is one JSON object. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
STOCK = "django_celery_beat.schedulers:DatabaseScheduler"
NEXUS = "schedules.scheduler:NexusScheduler"
QUEUES = ("default", "calendar")
INDEX = "nexus_bench_clockedschedule_clocked_time"


@dataclass
class Size:
    events: int
    cohorts: int
    edits_per_second: float
    burst: int
    window_rate: float  # window entries due per second
    window: float  # seconds
    lead: float  # seconds from reset to the first window entry (covers Beat's start)
    gap: float  # seconds from the window's end to the burst
    burst_timeout: float  # seconds after the burst's due time before we give up on it


QUICK = Size(20_000, 100, 10, 300, 15, 8, 5, 2, 8)
FULL = Size(1_000_000, 5_000, 10, 1_000, 10, 60, 20, 5, 60)


def log(message: str) -> None:
    print(f"[beat_scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- setup: environment, database, seed ---------------------------------------------------------------


def configure(database_url: str, redis_url: str) -> dict[str, str]:
    """Environment for this process and its children: production settings on the bench DB and Redis."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY="benchmark-only-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="localhost",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GITHUB_WEBHOOK_SECRETS="benchmark-only-webhook-secret",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    os.environ.update(env)
    return env


def create_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.startswith("nexus_bench"):
        raise SystemExit(f"refusing to recreate database {name!r}: its name must start with nexus_bench")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Plan:
    """Which seeded entries the run measures, and when (offsets from each run's start)."""

    names: list[str]  # by pk - 1
    far: dict[int, datetime]  # pk -> the seeded (far-future) time of every measured entry
    window: dict[int, float]  # pk -> due offset
    burst: list[int]
    pool: list[int]  # far-future entries the editor moves to "now"
    burst_at: float = 0.0
    window_end: float = 0.0


def entry_name(cohort: int, key: str) -> str:
    return f"cohort-{cohort}:{key}"


def seed(size: Size, rng: random.Random) -> Plan:
    """COPY `events` clocked one-offs (ClockedSchedule + PeriodicTask, ids 1..N) spread over 16 weeks."""
    from django.db import connection

    per_cohort = math.ceil(size.events / size.cohorts)
    start = datetime.now(tz=UTC) + timedelta(days=1)
    span = 16 * 7 * 86400
    names: list[str] = []
    times: list[datetime] = []
    for i in range(size.events):
        cohort, j = i // per_cohort + 1, i % per_cohort
        names.append(entry_name(cohort, f"ev{j:04d}"))
        times.append(start + timedelta(seconds=rng.uniform(0, span)))
    now = datetime.now(tz=UTC).isoformat()
    chunk = 50_000
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY django_celery_beat_clockedschedule (id, clocked_time) FROM STDIN") as copy:
            for lo in range(0, size.events, chunk):
                copy.write(
                    "".join(
                        f"{i + 1}\t{times[i].isoformat()}\n" for i in range(lo, min(lo + chunk, size.events))
                    )
                )
        log(f"seeded {size.events:,} clocked schedules")
        columns = (
            "id, name, task, args, kwargs, queue, headers, one_off, enabled, total_run_count, "
            "date_changed, description, clocked_id"
        )
        with raw.copy(f"COPY django_celery_beat_periodictask ({columns}) FROM STDIN") as copy:
            for lo in range(0, size.events, chunk):
                lines = []
                for i in range(lo, min(lo + chunk, size.events)):
                    cohort, key = names[i][len("cohort-") :].split(":")
                    # The exact kwargs text entries.sync writes, so a sync sees these rows as unchanged.
                    kwargs = json.dumps({"cohort_id": int(cohort), "event": key}, sort_keys=True)
                    lines.append(
                        f"{i + 1}\t{names[i]}\tbench.probe\t[]\t{kwargs}\tcalendar\t{{}}\tt\tt\t0\t{now}\t\t{i + 1}\n"
                    )
                copy.write("".join(lines))
                if (lo // chunk) % 4 == 3:
                    log(f"  periodic tasks: {lo + chunk:,} / {size.events:,}")
        log(f"seeded {size.events:,} periodic tasks")
        for table in ("django_celery_beat_clockedschedule", "django_celery_beat_periodictask"):
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            cursor.execute(sql)
    # The measured entries: distinct, chosen at random among all.
    window_count = int(size.window_rate * size.window)
    pool_count = int(size.edits_per_second * size.window) + 10
    chosen = rng.sample(range(1, size.events + 1), window_count + size.burst + pool_count)
    window_pks, rest = chosen[:window_count], chosen[window_count:]
    burst_pks, pool_pks = rest[: size.burst], rest[size.burst :]
    window = {pk: size.lead + rng.uniform(0, size.window) for pk in window_pks}
    far = {pk: times[pk - 1] for pk in chosen}
    plan = Plan(names=names, far=far, window=window, burst=burst_pks, pool=pool_pks)
    plan.window_end = size.lead + size.window
    plan.burst_at = plan.window_end + size.gap
    return plan


def index_and_analyze(with_index: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if with_index:
            # NexusScheduler's horizon read is a range on clocked_time; django_celery_beat has no index there.
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON django_celery_beat_clockedschedule (clocked_time)"
            )
        cursor.execute("VACUUM ANALYZE django_celery_beat_clockedschedule")
        cursor.execute("VACUUM ANALYZE django_celery_beat_periodictask")


def reset(plan: Plan, t0: float) -> None:
    """Put every measured entry back: enabled, never run, at its time for this run (relative to t0)."""
    from django.db import connection, transaction
    from django_celery_beat.models import PeriodicTasks

    at = {pk: datetime.fromtimestamp(t0 + offset, tz=UTC) for pk, offset in plan.window.items()}
    burst_time = datetime.fromtimestamp(t0 + plan.burst_at, tz=UTC)
    at.update({pk: burst_time for pk in plan.burst})
    at.update({pk: plan.far[pk] for pk in plan.pool})
    values = ", ".join(["(%s, %s::timestamptz)"] * len(at))
    params = [x for pk, when in at.items() for x in (pk, when)]
    with transaction.atomic(), connection.cursor() as cursor:
        # Only placeholders are formatted in; the values go as parameters.
        sql = (
            "UPDATE django_celery_beat_clockedschedule c SET clocked_time = v.t FROM (VALUES {}) AS v(id, t) "
        )
        cursor.execute(sql.format(values) + "WHERE c.id = v.id", params)
        cursor.execute(
            "UPDATE django_celery_beat_periodictask SET enabled = true, total_run_count = 0, last_run_at = NULL "
            "WHERE id = ANY(%s)",
            [list(at)],
        )
        PeriodicTasks.update_changed()


# --- processes ------------------------------------------------------------------------------------------


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    def stat(path: Path) -> list[str] | None:
        try:
            return path.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = {pid}
    if children:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (fields := stat(entry / "stat")) and int(fields[1]) == pid:
                pids.add(int(entry.name))
    for each in pids:
        if fields := stat(Path(f"/proc/{each}/stat")):
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"{self.name} never printed {text!r}; its log:\n{self.log()[-3000:]}")

    def rss_mb(self) -> tuple[float | None, float | None]:
        """(VmRSS, VmHWM) in MB, from /proc."""
        try:
            status = Path(f"/proc/{self.popen.pid}/status").read_text()
        except OSError:
            return None, None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

        def mb(key: str) -> float | None:
            return round(int(fields[key].split()[0]) / 1024, 1) if key in fields else None

        return mb("VmRSS"), mb("VmHWM")

    def cpu_seconds(self, *, children: bool = False) -> float:
        """User + system CPU time of the process (and of its direct children), from /proc."""
        return cpu_seconds(self.popen.pid, children=children)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()


def start_worker(env: dict[str, str], log_dir: Path, redis) -> Proc:
    # prefork, 4 processes, the project's prefetch multiplier (1) and acks_late: each process holds at
    # most one message, so no message waits behind another in a busy process. Warnings only: per-task
    # INFO lines would cost the worker, not Beat.
    worker = Proc(
        "worker",
        [
            CELERY,
            "-A",
            "config",
            "worker",
            "-P",
            "prefork",
            "-c",
            "4",
            "--prefetch-multiplier",
            "1",
            "-Q",
            ",".join(QUEUES),
            "-I",
            "benchmarks.probe",
            "-n",
            f"bench-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ],
        {**env, "LOG_LEVEL": "WARNING"},
        log_dir,
    )
    from benchmarks.probe import PROBE_TASK, STARTED_KEY
    from config.celery import app

    deadline = time.monotonic() + 60
    app.send_task(PROBE_TASK, kwargs={"cohort_id": 0, "event": "ready"}, queue="calendar")
    while not redis.hexists(STARTED_KEY, "cohort-0:ready"):
        if time.monotonic() > deadline or worker.popen.poll() is not None:
            raise SystemExit(f"the worker never started a task; its log:\n{worker.log()[-3000:]}")
        time.sleep(0.1)
    return worker


# --- the editor -------------------------------------------------------------------------------------------


@dataclass
class Edits:
    now_commits: dict[int, float] = field(default_factory=dict)  # pk -> commit time of a move to "now"
    moved_later: set[int] = field(default_factory=set)  # window entries moved to next month
    errors: list[str] = field(default_factory=list)


def edit(plan: Plan, pk: int, instant: datetime) -> float:
    """Move entry pk the way a cohort edit does (schedules.entries.sync over the cohort's entries).

    Returns the commit time. The cohort's rows are locked before the records are built from them, so a
    row Beat disables meanwhile is not re-armed by a stale read.
    """
    from django.db import transaction
    from django_celery_beat.models import PeriodicTask

    from schedules import entries

    name = plan.names[pk - 1]
    prefix = name.split(":", 1)[0] + ":"
    with transaction.atomic():
        rows = PeriodicTask.objects.select_for_update(of=("self",)).filter(name__startswith=prefix)
        records = [
            entries.EventRecord(
                name=row.name,
                task=row.task,
                kwargs=json.loads(row.kwargs),
                instant=instant if row.pk == pk else row.clocked.clocked_time,
                enabled=True if row.pk == pk else row.enabled,
                queue=row.queue,
            )
            for row in rows.select_related("clocked")
        ]
        result = entries.sync(prefix=prefix, records=records)
    if result.updated != 1 or result.created or result.deleted:
        raise RuntimeError(f"the edit of {name} changed {result}")
    return time.time()


def run_editor(plan: Plan, size: Size, t0: float, edits: Edits, stop: threading.Event) -> None:
    from django.db import connection

    pool = list(plan.pool)
    try:
        start = t0 + size.lead
        n = int(size.edits_per_second * size.window)
        for k in range(n):
            wake = start + k / size.edits_per_second
            if stop.wait(max(0.0, wake - time.time())):
                return
            try:
                if k % 5 == 4:
                    # Move a window entry due 1.5-3 s from now to next month: it must not fire at its old time.
                    now = time.time()
                    soon = [
                        pk
                        for pk, offset in plan.window.items()
                        if pk not in edits.moved_later and 1.5 <= t0 + offset - now <= 3.0
                    ]
                    if soon:
                        pk = soon[0]
                        edit(plan, pk, datetime.now(tz=UTC) + timedelta(days=30))
                        edits.moved_later.add(pk)
                        continue
                pk = pool.pop()
                edits.now_commits[pk] = edit(plan, pk, datetime.now(tz=UTC))
            except Exception as exc:  # noqa: BLE001 - report, keep editing
                edits.errors.append(repr(exc))
    finally:
        connection.close()


# --- one scheduler's run ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank; None when it falls on a missing value (counted as infinitely late)."""
    if not values:
        return None
    ordered = sorted(values)
    value = ordered[max(0, math.ceil(q * len(ordered)) - 1)]
    return None if value == math.inf else round(value, 4)


def run_one(
    label: str,
    scheduler: str,
    plan: Plan,
    size: Size,
    env: dict[str, str],
    log_dir: Path,
    redis,
    worker: Proc,
) -> dict:
    from benchmarks.probe import RUNS_KEY, STARTED_KEY

    redis.delete(STARTED_KEY, RUNS_KEY, "nexus:beat:lock", "nexus:beat:heartbeat")
    t0 = time.time()
    reset(plan, t0)
    beat = Proc(
        f"beat-{label}", [CELERY, "-A", "config", "beat", "-l", "INFO", "-S", scheduler], env, log_dir
    )
    beat.wait_for("beat: Starting...", timeout=60)
    log(f"{label}: Beat started {time.time() - t0:.1f} s after the reset; window opens at +{size.lead:.0f} s")
    edits, stop = Edits(), threading.Event()
    editor = threading.Thread(target=run_editor, args=(plan, size, t0, edits, stop), daemon=True)
    editor.start()
    notes: list[str] = []

    def started() -> dict[str, float]:
        return {k.decode(): float(v) for k, v in redis.hgetall(STARTED_KEY).items()}

    window_names = {plan.names[pk - 1] for pk in plan.window}
    while time.time() < t0 + size.lead:
        time.sleep(0.05)
    cpu_window = beat.cpu_seconds()
    next_report = time.time() + 5
    while time.time() < t0 + plan.window_end + 2:
        time.sleep(0.25)
        if time.time() >= next_report:
            next_report += 5
            done = len(window_names & started().keys())
            log(
                f"{label}: {done}/{len(window_names)} window entries started, {len(edits.now_commits)} edits made"
            )
    stop.set()
    editor.join(timeout=30)
    cpu_window = beat.cpu_seconds() - cpu_window
    window_seconds = time.time() - (t0 + size.lead)
    burst_due = t0 + plan.burst_at
    burst_names = sorted(plan.names[pk - 1] for pk in plan.burst)
    while time.time() < burst_due - 0.5:
        time.sleep(0.05)
    cpu_burst, cpu_worker = beat.cpu_seconds(), worker.cpu_seconds(children=True)
    deadline = burst_due + size.burst_timeout
    while time.time() < deadline:
        # HMGET of the burst's names only, twice a second: the recorded start times give the figures,
        # so polling more often would only take CPU from the processes being measured.
        time.sleep(0.5)
        if all(redis.hmget(STARTED_KEY, burst_names)):
            break
    cpu_burst, cpu_worker = beat.cpu_seconds() - cpu_burst, worker.cpu_seconds(children=True) - cpu_worker
    rss, peak = beat.rss_mb()
    time.sleep(0.5)  # late duplicates, if any, land before we count
    starts = started()
    observed_until = time.time()
    runs = {k.decode(): int(v) for k, v in redis.hgetall(RUNS_KEY).items()}
    beat.stop()

    lags = [
        starts.get(plan.names[pk - 1], math.inf) - (t0 + offset)
        for pk, offset in plan.window.items()
        if pk not in edits.moved_later
    ]
    live = [starts.get(plan.names[pk - 1], math.inf) - commit for pk, commit in edits.now_commits.items()]
    burst_starts = [starts[name] for name in burst_names if name in starts]
    burst_last = round(max(burst_starts) - burst_due, 4) if len(burst_starts) == len(burst_names) else None
    if burst_last is None:
        notes.append(
            f"burst: {len(burst_starts)} of {len(burst_names)} started within {size.burst_timeout:.0f} s"
        )
    missed = sum(lag == math.inf for lag in lags)
    if missed:
        # A lag we could not see is at least the time from its due instant to the end of the run.
        bounds = [
            observed_until - (t0 + offset)
            for pk, offset in plan.window.items()
            if pk not in edits.moved_later and plan.names[pk - 1] not in starts
        ]
        floor = percentile([lag for lag in lags if lag != math.inf] + bounds, 0.99)
        notes.append(
            f"window: {missed} of {len(lags)} entries never started during the run; p99 >= {floor} s"
        )
    unseen = sum(lag == math.inf for lag in live)
    if unseen:
        notes.append(f"edits: {unseen} of {len(live)} moved-to-now entries never started during the run")
    if edits.errors:
        notes.append(f"editor: {len(edits.errors)} failed edits, first {edits.errors[0]}")
    measured = window_names | set(burst_names) | {plan.names[pk - 1] for pk in edits.now_commits}
    result = {
        "fire_lag_p99_s": percentile(lags, 0.99),
        "fire_lag_p50_s": percentile(lags, 0.50),
        "fire_lag_max_s": percentile(lags, 1.0),
        "window_events": len(lags),
        "edit_live_p99_s": percentile(live, 0.99),
        "edit_live_p50_s": percentile(live, 0.50),
        "edits": len(edits.now_commits) + len(edits.moved_later),
        "moved_later": len(edits.moved_later),
        "moved_fired_at_old_time": sum(plan.names[pk - 1] in starts for pk in edits.moved_later),
        "burst_events": len(burst_names),
        "burst_last_s": burst_last,
        "burst_first_s": round(min(burst_starts) - burst_due, 4) if burst_starts else None,
        "duplicate_runs": sum(n - 1 for name, n in runs.items() if name in measured and n > 1),
        "beat_rss_mb": rss,
        "beat_peak_rss_mb": peak,
        "beat_cpu_window_pct": round(100 * cpu_window / window_seconds, 1),
        "beat_cpu_burst_s": round(cpu_burst, 2),
        "worker_cpu_burst_s": round(cpu_worker, 2),
        "notes": notes,
    }
    log(f"{label}: {json.dumps(result)}")
    raw = {
        "window": {
            plan.names[pk - 1]: [t0 + offset, starts.get(plan.names[pk - 1])]
            for pk, offset in plan.window.items()
        },
        "moved_later": [plan.names[pk - 1] for pk in edits.moved_later],
        "edits": {
            plan.names[pk - 1]: [commit, starts.get(plan.names[pk - 1])]
            for pk, commit in edits.now_commits.items()
        },
        "burst": {"due": burst_due, "starts": {name: starts.get(name) for name in burst_names}},
        "runs": runs,
    }
    (log_dir / f"raw-{label}.json").write_text(json.dumps(raw))
    drain(redis, label)
    return result


def drain(redis, label: str) -> None:
    """Let the worker finish what this Beat sent, so the next run starts on empty queues."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(redis.llen(q) for q in QUEUES):
        time.sleep(0.2)
    left = sum(redis.llen(q) for q in QUEUES)
    if left:
        log(f"{label}: dropping {left} queued messages Beat sent that the worker has not taken yet")
        redis.delete(*QUEUES)
    time.sleep(1.0)


# --- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes; the whole run takes under 60 s")
    parser.add_argument("--events", type=int)
    parser.add_argument("--cohorts", type=int)
    parser.add_argument("--edits-per-second", type=float)
    parser.add_argument("--burst", type=int)
    parser.add_argument("--window-rate", type=float, help="window entries due per second")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexus_bench"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument(
        "--no-index", action="store_true", help="skip the clocked_time index NexusScheduler wants"
    )
    parser.add_argument("--schedulers", default="stock,nexus", help="which to run, in order (stock,nexus)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    size = Size(
        **{
            **size.__dict__,
            **{
                k: v
                for k, v in (
                    ("events", args.events),
                    ("cohorts", args.cohorts),
                    ("edits_per_second", args.edits_per_second),
                    ("burst", args.burst),
                    ("window_rate", args.window_rate),
                )
                if v is not None
            },
        }
    )
    began = time.time()
    env = configure(args.database_url, args.redis_url)
    sys.path.insert(0, str(ROOT))
    log(
        f"{size.events:,} events / {size.cohorts:,} cohorts, {size.edits_per_second:g} edits/s, burst {size.burst}, "
        f"window {size.window:g} s at {size.window_rate:g}/s; database {urlsplit(args.database_url).path[1:]}, "
        f"redis {args.redis_url}"
    )
    create_database(args.database_url)
    import django

    django.setup()
    import redis as redis_lib
    from django.core.management import call_command

    redis = redis_lib.Redis.from_url(args.redis_url)
    redis.flushdb()
    call_command("migrate", verbosity=0)
    log("database created and migrated")
    log_dir = Path(tempfile.mkdtemp(prefix="beat_scale-"))
    worker = start_worker(env, log_dir, redis)
    log(f"worker ready (logs in {log_dir})")
    try:
        plan = seed(size, random.Random(20260601))
        index_and_analyze(not args.no_index)
        log(f"seeded and analyzed in {time.time() - began:.0f} s since start")
        wanted = [s.strip() for s in args.schedulers.split(",") if s.strip()]
        results = {}
        for label in wanted:
            scheduler = STOCK if label == "stock" else NEXUS
            results[label] = run_one(label, scheduler, plan, size, env, log_dir, redis, worker)
    finally:
        worker.stop()
    out: dict[str, object] = {
        "benchmark": "P2 beat_scale",
        "quick": args.quick,
        "events": size.events,
        "cohorts": size.cohorts,
        "edits_per_second": size.edits_per_second,
        "index": not args.no_index,
    }
    for label, result in results.items():
        prefix = "" if label == "nexus" else f"{label}_"
        out.update({f"{prefix}{k}": v for k, v in result.items()})
    out["seconds"] = round(time.time() - began, 1)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
