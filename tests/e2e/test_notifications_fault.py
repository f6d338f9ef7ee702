"""R1, the fault test: a real worker fanning an unlock out to 2,000 learners over SMTP (aiosmtpd on loopback)
is SIGKILLed mid-send, five times at different points, and restarted. Every learner still gets exactly one
in-app row and at least one email; a kill costs at most one duplicate (the same Message-ID) and loses none."""

from __future__ import annotations

import email.parser
import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from cohorts import services
from cohorts.models import Enrollment
from config.celery import app
from notifications.models import Notification
from programs.services import program_load
from tests.conftest import wait_for, worker_argv
from tests.notifications.smtp import Sink, free_port

pytestmark = pytest.mark.e2e

LEARNERS = 2_000
# Where each trial kills the sending process: after this share of its emails was accepted. Odd trials
# kill the pool process that is sending (the worker replaces it); even ones the whole worker, which
# the test then starts again.
KILL_AT = (0.05, 0.3, 0.5, 0.75, 0.95)
LEASE = 6  # s: a killed sender's rows are claimed again this long after it claimed them
PROGRAM = {
    "slug": "fault",
    "name": "Fault program",
    "units": [
        {"key": f"week-{i}", "title": f"Week {i}", "unlock": f"week {i} mon 09:00"}
        for i in range(len(KILL_AT))
    ],
}


class CountingSink(Sink):
    """Counts accepted messages per Subject and per Message-ID (parsing headers only: 10,000 messages)."""

    def __init__(self) -> None:
        super().__init__()
        self.parser = email.parser.BytesHeaderParser()
        self.subjects: Counter[str] = Counter()
        self.ids: dict[str, Counter[str]] = {}

    async def handle_DATA(self, server, session, envelope):
        headers = self.parser.parsebytes(envelope.content)
        with self.lock:
            self.subjects[headers["Subject"]] += 1
            self.ids.setdefault(headers["Subject"], Counter())[headers["Message-ID"]] += 1
        return "250 Message accepted for delivery"

    def count(self, subject: str) -> int:
        with self.lock:
            return self.subjects[subject]

    def duplicates(self, subject: str) -> int:
        with self.lock:
            return sum(n - 1 for n in self.ids.get(subject, Counter()).values())

    def unique(self, subject: str) -> int:
        with self.lock:
            return len(self.ids.get(subject, ()))


@pytest.fixture
def sink(monkeypatch):
    from aiosmtpd.controller import Controller

    handler = CountingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("NEXUS_TEST_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    monkeypatch.setenv("EMAIL_HOST", controller.hostname)
    monkeypatch.setenv("EMAIL_PORT", str(controller.port))
    monkeypatch.setenv("NEXUS_NOTIFY_LEASE", str(LEASE))
    monkeypatch.setenv("NEXUS_NOTIFY_BATCH", "100")
    monkeypatch.setenv("NEXUS_NOTIFY_SWEEP_GRACE", "2")
    yield handler
    controller.stop()


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def enrol(cohort, count: int) -> None:
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"f{i:04d}@example.com", email=f"f{i:04d}@example.com")
        for i in range(count)
    )
    Enrollment.objects.bulk_create(Enrollment(cohort=cohort, user=u, email=u.email) for u in users)


def test_killing_the_sender_mid_fan_out_costs_at_most_one_duplicate_and_loses_nothing(
    transactional_db, redis_client, start_process, sink
):
    # given a cohort of 2,000 whose unlocks are all due, one worker process sending, and a sweep every
    # second (Beat's stand-in, sending the same message Beat's entry sends)
    program = program_load(data=PROGRAM, source="fault.yaml").program
    today = datetime.now(tz=UTC).date()
    start = today - timedelta(days=today.weekday() + 7 * len(KILL_AT))
    cohort = services.cohort_create(program=program, name="Fault", start_date=start, timezone="Africa/Lagos")
    enrol(cohort, LEARNERS)
    workers = [start_process("worker-0", worker_argv(1))]
    workers[0].wait_for_line("ready.", timeout=60)
    stop = threading.Event()

    def sweeper():
        # time.sleep, not stop.wait(1.0): under libfaketime (CI's faketime pass) an Event.wait timeout
        # never expires (its monotonic deadline is 900 days ahead of the kernel's clock).
        while not stop.is_set():
            time.sleep(1.0)
            app.send_task("nexus.notifications.sweep")

    threading.Thread(target=sweeper, daemon=True).start()
    figures = []
    try:
        for trial, share in enumerate(KILL_AT):
            subject = f"Week {trial} is unlocked"
            key = f"week-{trial}"
            began = time.monotonic()
            # when the unlock fires and, once `share` of its emails were accepted, the sender is killed
            app.send_task("nexus.calendar.fire_event", args=[cohort.pk, f"unlock:{key}"])
            wait_for(
                lambda s=subject, f=share: sink.count(s) >= f * LEARNERS,
                60,
                f"{share:.0%} of {subject}",
                workers,
            )
            worker = workers[-1]
            if trial % 2 == 0:
                victims = children(worker.popen.pid)  # the pool process that sends
                assert victims, "the worker has no pool process"
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                how = "pool process"
            else:
                os.killpg(worker.popen.pid, signal.SIGKILL)
                worker.popen.wait()
                replacement = start_process(f"worker-{trial + 1}", worker_argv(1))
                workers.append(replacement)
                replacement.wait_for_line("ready.", timeout=60)
                how = "whole worker, restarted"
            killed_at = sink.count(subject)
            # then every learner gets it: all rows sent, every Message-ID received
            emails = Notification.objects.filter(cohort=cohort, subject=key, channel="email")
            wait_for(
                lambda s=subject, emails=emails: (
                    sink.unique(s) >= LEARNERS
                    and not emails.exclude(status=Notification.Status.SENT).exists()
                ),
                LEASE * 4 + 30,
                f"every {subject} email",
                workers,
            )
            time.sleep(0.5)  # a late duplicate would arrive now
            inapp = Counter(
                Notification.objects.filter(cohort=cohort, subject=key, channel="inapp").values_list(
                    "enrollment_id", flat=True
                )
            )
            figure = {
                "trial": trial + 1,
                "killed": how,
                "killed_after": killed_at,
                "emails_received": sink.count(subject),
                "duplicates": sink.duplicates(subject),
                "missing": LEARNERS - sink.unique(subject),
                "inapp_rows": sum(inapp.values()),
                "learners_with_one_inapp_row": sum(1 for n in inapp.values() if n == 1),
                "seconds": round(time.monotonic() - began, 1),
            }
            figures.append(figure)
            print(f"R1 trial {figure}")
            assert figure["missing"] == 0
            assert figure["duplicates"] <= 1
            assert figure["inapp_rows"] == figure["learners_with_one_inapp_row"] == LEARNERS
    finally:
        stop.set()
        print("R1 figures:", *figures, sep="\n  ")
