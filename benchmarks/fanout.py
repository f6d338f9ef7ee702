"""Benchmark P1: an unlock fanned out to a 10,000-learner cohort by 2 worker processes, in-app and email.

    .venv/bin/python benchmarks/fanout.py [--quick] [--learners N] [--database-url URL] [--redis-url URL]

One run, one PostgreSQL database (created fresh), one Redis DB (flushed), an aiosmtpd sink on loopback in
this process, and two real `celery -A config worker -c 1` processes (production settings, SMTP backend
pointed at the sink). A program with one unlock is loaded, a cohort whose unlock is due is created and N
learners are enrolled. Then, each timed from the instant the event is fired (the fire_event message Beat
would send is sent):

  ours      the unlock's fire_event task: fan-out (in-app rows written sent, email rows pending) in the
            event's transaction, then deliver chunks enqueued after commit and sent by both workers;
            in-app: until the last of the N feed rows exists; email: until the sink accepted the N-th;
  floors    in-app: this process bulk-inserting the same N rows (bulk_create); email: one worker
            process sending the same N messages over one persistent SMTP connection;
  naive     one Celery task per learner: an ORM save (in-app), send_mail, a new connection each (email);
            --quick times them on 300 learners and scales linearly (they cost the same per learner), so
            the whole run stays under a minute; the full run times all of them.

Duplicates and missing are counted for our run (feed rows per learner; emails by Message-ID). Progress goes
to stdout; the last line is one JSON object. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
QUEUES = ("default", "calendar", "notifications")
FULL, QUICK = 10_000, 2_000
PROGRAM = {
    "slug": "bench-fanout",
    "name": "Fan-out benchmark",
    "units": [
        {"key": "week-0", "title": "Week 0", "unlock": "week 0 mon 09:00"},
        {"key": "week-1", "title": "Week 1", "unlock": "week 1 mon 09:00"},
    ],
}


def log(message: str) -> None:
    print(f"[fanout {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the SMTP sink ------------------------------------------------------------------------------------


class Sink:
    """aiosmtpd handler: counts accepted messages by key (Message-ID, else To + Subject) per phase."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.parser = email.parser.BytesHeaderParser()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.keys: Counter[str] = Counter()
            self.last = 0.0

    async def handle_DATA(self, server, session, envelope):
        headers = self.parser.parsebytes(envelope.content)
        key = headers["Message-ID"] or f"{headers['To']}|{headers['Subject']}"
        with self.lock:
            self.keys[key] += 1
            self.last = time.time()
        return "250 Message accepted for delivery"

    def unique(self) -> int:
        with self.lock:
            return len(self.keys)

    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.keys.values())


def start_sink():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink


# --- setup --------------------------------------------------------------------------------------------


def configure(database_url: str, redis_url: str, smtp_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY="benchmark-only-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="localhost",
        GITHUB_WEBHOOK_SECRETS="benchmark-only-webhook-secret",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        LOG_LEVEL="WARNING",
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
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed(learners: int):
    """The program, a cohort whose week-0 unlock is due (it started last week), and its learners."""
    from django.contrib.auth import get_user_model

    from cohorts.models import Enrollment
    from cohorts.services import cohort_create
    from programs.services import program_load

    program = program_load(data=PROGRAM, source="bench.yaml").program
    today = datetime.now(tz=UTC).date()
    start = today - timedelta(days=today.weekday() + 7)
    cohort = cohort_create(program=program, name="Fan-out", start_date=start, timezone="Africa/Lagos")
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"learner{i:05d}@example.com", email=f"learner{i:05d}@example.com")
        for i in range(learners)
    )
    Enrollment.objects.bulk_create(Enrollment(cohort=cohort, user=user, email=user.email) for user in users)
    return cohort


class Worker:
    def __init__(self, index: int, env: dict[str, str], log_dir: Path) -> None:
        self.log_path = log_dir / f"worker-{index}.log"
        self._log = self.log_path.open("wb")
        argv = [CELERY, "-A", "config", "worker", "-P", "prefork", "-c", "1", "-Q", ",".join(QUEUES)]
        argv += ["-I", "benchmarks.fanout_tasks", "-n", f"fanout-{index}-{os.getpid()}@%h"]
        argv += ["--without-mingle", "--without-gossip", "-l", "WARNING"]
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, 15)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, 9)
                self.popen.wait()
        self._log.close()


def wait_ready(app, workers: list[Worker]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5) or []) >= len(workers):
            return
        if any(w.popen.poll() is not None for w in workers):
            break
    logs = "\n".join(w.log_path.read_text(errors="replace")[-2000:] for w in workers)
    raise SystemExit(f"the workers never answered a ping; their logs:\n{logs}")


def wait(predicate, timeout: float, what: str, every: float = 0.01) -> float:
    """Poll until predicate holds; return the time.time() at which it was seen to hold."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.time()
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


# --- the phases ---------------------------------------------------------------------------------------


def run_ours(app, cohort, sink: Sink, n: int, timeout: float) -> dict:
    from notifications.models import Notification

    inapp = Notification.objects.filter(cohort=cohort, channel="inapp", subject="week-0")
    emails = Notification.objects.filter(cohort=cohort, channel="email", subject="week-0")
    sink.reset()
    started = time.time()
    app.send_task("nexus.calendar.fire_event", args=[cohort.pk, "unlock:week-0"], queue="calendar")
    inapp_at = wait(lambda: inapp.count() >= n, timeout, "our feed rows")
    log(f"ours: {n:,} feed rows in {inapp_at - started:.3f} s")
    wait(lambda: sink.unique() >= n, timeout, "our emails", every=0.05)
    email_s = sink.last - started
    log(f"ours: {n:,} emails accepted in {email_s:.3f} s")
    wait(lambda: not emails.exclude(status="sent").exists(), 30, "our email rows recorded sent", every=0.1)
    time.sleep(1.0)  # anything sent twice would arrive now
    per_learner = Counter(inapp.values_list("enrollment_id", flat=True))
    inapp_dups = sum(c - 1 for c in per_learner.values())
    return {
        "inapp_s": inapp_at - started,
        "email_s": email_s,
        "duplicates": inapp_dups + sink.duplicates(),
        "missing": (n - len(per_learner)) + (n - sink.unique()),
        "email_ids": list(emails.order_by("pk").values_list("pk", flat=True)),
    }


def inapp_floor(cohort) -> float:
    from core import clock
    from notifications.models import Notification

    ids = list(cohort.enrollments.values_list("pk", flat=True))
    at = datetime.now(tz=UTC)
    started = time.perf_counter()
    now = clock.now()
    Notification.objects.bulk_create(
        Notification(
            kind="unit_unlocked",
            cohort_id=cohort.pk,
            enrollment_id=eid,
            subject="floor",
            effective_at=at,
            channel="inapp",
            payload={"cohort": cohort.name, "title": "Week 0"},
            status="sent",
            sent_at=now,
        )
        for eid in ids
    )
    took = time.perf_counter() - started
    Notification.objects.filter(subject="floor").delete()
    return took


def inapp_naive(app, cohort, n: int, timeout: float) -> float:
    from benchmarks.fanout_tasks import NAIVE_INAPP
    from notifications.models import Notification

    ids = list(cohort.enrollments.order_by("pk").values_list("pk", flat=True))[:n]
    at = datetime.now(tz=UTC).isoformat()
    rows = Notification.objects.filter(subject="naive")
    started = time.time()
    for eid in ids:
        app.send_task(NAIVE_INAPP, args=[cohort.pk, eid, "naive", at], queue="notifications")
    done = wait(lambda: rows.count() >= n, timeout, "the naive feed rows", every=0.05)
    rows.delete()
    return done - started


def email_floor(app, sink: Sink, ids: list[int], timeout: float) -> float:
    from benchmarks.fanout_tasks import FLOOR_EMAIL

    sink.reset()
    started = time.time()
    app.send_task(FLOOR_EMAIL, args=[ids], queue="notifications")
    wait(lambda: sink.unique() >= len(ids), timeout, "the floor's emails", every=0.05)
    return sink.last - started


def email_naive(app, sink: Sink, ids: list[int], timeout: float) -> float:
    from benchmarks.fanout_tasks import NAIVE_EMAIL

    sink.reset()
    started = time.time()
    for pk in ids:
        app.send_task(NAIVE_EMAIL, args=[pk], queue="notifications")
    wait(lambda: sink.unique() >= len(ids), timeout, "the naive emails", every=0.05)
    return sink.last - started


# --- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} learners; the run takes under 60 s")
    parser.add_argument("--learners", type=int)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexus_bench_fanout"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument(
        "--naive-sample",
        type=int,
        help="time the naive designs on this many learners and scale linearly (default: all; --quick: 300)",
    )
    args = parser.parse_args()
    n = args.learners or (QUICK if args.quick else FULL)
    if args.quick and args.naive_sample is None:
        args.naive_sample = 300
    timeout = 30 + n / 50
    began = time.time()
    controller, sink = start_sink()
    env = configure(args.database_url, args.redis_url, controller.port)
    sys.path.insert(0, str(ROOT))
    log(
        f"{n:,} learners, 2 worker processes; database {urlsplit(args.database_url).path[1:]}, redis {args.redis_url}"
    )
    create_database(args.database_url)
    import django

    django.setup()
    import redis as redis_lib
    from django.core.management import call_command

    from config.celery import app

    redis_lib.Redis.from_url(args.redis_url).flushdb()
    call_command("migrate", verbosity=0)
    cohort = seed(n)
    log(f"database created, migrated and seeded in {time.time() - began:.1f} s")
    log_dir = Path(tempfile.mkdtemp(prefix="fanout-"))
    workers = [Worker(i, env, log_dir) for i in range(2)]
    try:
        wait_ready(app, workers)
        log(f"2 workers ready (logs in {log_dir})")
        ours = run_ours(app, cohort, sink, n, timeout)
        floor_inapp = inapp_floor(cohort)
        log(f"in-app floor (bulk_create of {n:,} rows in this process): {floor_inapp:.3f} s")
        sample = min(args.naive_sample or n, n)
        scale = n / sample
        how = f" (measured on {sample:,} learners, scaled x{scale:g})" if sample < n else ""
        naive_inapp = inapp_naive(app, cohort, sample, timeout * 4) * scale
        log(f"in-app naive (a task per learner, an ORM save each): {naive_inapp:.3f} s{how}")
        floor_email = email_floor(app, sink, ours["email_ids"], timeout)
        log(f"email floor (one process, one SMTP connection): {floor_email:.3f} s")
        naive_email = email_naive(app, sink, ours["email_ids"][:sample], timeout * 4) * scale
        log(f"email naive (a task per learner, send_mail each): {naive_email:.3f} s{how}")
    finally:
        for worker in workers:
            worker.stop()
        controller.stop()
    log(f"done in {time.time() - began:.1f} s")
    out = {
        "learners": n,
        "inapp_s": round(ours["inapp_s"], 3),
        "inapp_floor_s": round(floor_inapp, 3),
        "inapp_naive_s": round(naive_inapp, 3),
        "inapp_vs_floor": round(ours["inapp_s"] / floor_inapp, 2),
        "inapp_vs_naive": round(naive_inapp / ours["inapp_s"], 1),
        "email_s": round(ours["email_s"], 3),
        "email_floor_s": round(floor_email, 3),
        "email_naive_s": round(naive_email, 3),
        "email_vs_floor": round(ours["email_s"] / floor_email, 2),
        "email_vs_naive": round(naive_email / ours["email_s"], 2),
        "duplicates": ours["duplicates"],
        "missing": ours["missing"],
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
