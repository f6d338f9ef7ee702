"""End to end: a calendar event fired by real Beat and worker processes reaches every learner by SMTP, once,
through delivery chunks the firing task enqueued after its commit (the periodic sweep stays out of it)."""

from datetime import UTC, datetime, timedelta

import pytest

from cohorts import services
from notifications.models import Notification
from programs.services import program_load
from tests.conftest import wait_for
from tests.e2e.test_calendar_beat import PROGRAM, monday_this_week
from tests.notifications.smtp import start_sink

pytestmark = pytest.mark.e2e

LEARNERS = ("ada@example.com", "bob@example.com", "kim@example.com")


@pytest.fixture
def smtp_for_children(monkeypatch):
    """An SMTP server on loopback that the worker this test starts sends to (child processes read env)."""
    controller, sink = start_sink()
    monkeypatch.setenv("NEXUS_TEST_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    monkeypatch.setenv("EMAIL_HOST", controller.hostname)
    monkeypatch.setenv("EMAIL_PORT", str(controller.port))
    monkeypatch.setenv("NEXUS_NOTIFY_SWEEP_EVERY", "3")  # Beat's periodic sweep has its turn within seconds
    monkeypatch.setenv("NEXUS_NOTIFY_BATCH", "2")  # three learners: two delivery chunks
    yield sink
    controller.stop()


def test_an_unlock_due_in_seconds_emails_every_learner_exactly_once(
    smtp_for_children, celery_worker_process, celery_beat_process
):
    # given a real-time cohort with three learners, a worker and Beat, and a week-2 unlock days away
    program = program_load(data=PROGRAM, source="e2e.yaml").program
    cohort = services.cohort_create(
        program=program, name="Mail", start_date=monday_this_week(), timezone="Africa/Lagos"
    )
    for email in LEARNERS:
        services.enrollment_create(cohort=cohort, email=email)
    # when staff move it to three seconds from now
    services.cohort_event_move(
        event=cohort.events.get(key="unlock:week-2"), at=datetime.now(tz=UTC) + timedelta(seconds=3)
    )
    # then every learner receives its email within seconds
    procs = [celery_worker_process, celery_beat_process]

    def week_2_mail():
        return [m for m in smtp_for_children.messages if m["Subject"] == "Week 2 is unlocked"]

    wait_for(lambda: len(week_2_mail()) >= len(LEARNERS), 40, "the week-2 emails", procs)
    rows = Notification.objects.filter(
        enrollment__cohort=cohort, kind="unit_unlocked", subject="week-2", channel="email"
    )
    # (a fresh query each time: iterating one queryset would cache its first answer)
    wait_for(
        lambda: set(rows.values_list("status", flat=True)) == {Notification.Status.SENT},
        10,
        "rows marked sent",
        procs,
    )
    # and the firing task enqueued them as two chunks (of two and one), which the worker delivered
    log = celery_worker_process.log()
    assert log.count("Task nexus.notifications.deliver[") >= 2
    assert "'sent': 2" in log
    assert "'sent': 1" in log
    # and each learner has exactly one in-app row, delivered by being written
    inapp = Notification.objects.filter(
        enrollment__cohort=cohort, kind="unit_unlocked", subject="week-2", channel="inapp"
    )
    assert sorted(inapp.values_list("enrollment__email", flat=True)) == sorted(LEARNERS)
    assert set(inapp.values_list("status", flat=True)) == {Notification.Status.SENT}
    # and exactly once each, even after the periodic sweep has had its turn
    wait_for(lambda: "nexus.notifications.sweep" in celery_beat_process.log(), 40, "Beat's sweep", procs)
    assert sorted(m["To"] for m in week_2_mail()) == sorted(LEARNERS)
    message_ids = [m["Message-ID"] for m in smtp_for_children.messages]
    assert len(message_ids) == len(set(message_ids))  # nothing of the cohort was sent twice
    assert Notification.objects.filter(
        enrollment__cohort=cohort, status=Notification.Status.SENT, channel="email"
    ).count() == len(message_ids)
