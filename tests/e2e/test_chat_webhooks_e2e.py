"""End to end: a real worker delivers chat notifications to a webhook server on loopback, honouring a 429."""

from datetime import UTC, datetime

import pytest

from cohorts import services
from notifications.models import Channel, Notification
from programs.services import program_load
from tasks.notifications import sweep
from tests.conftest import wait_for
from tests.e2e.test_calendar_beat import PROGRAM, monday_this_week
from tests.notifications.chat_sink import Answer, ChatSink

pytestmark = pytest.mark.e2e


@pytest.fixture
def chat_sink(monkeypatch):
    monkeypatch.setenv("NEXUS_NOTIFY_RETRY_BASE", "1")  # the worker's own backoff: shorter than the 429's
    monkeypatch.setenv("NEXUS_NOTIFY_SWEEP_GRACE", "0")  # rows made by hand here: no chunk was enqueued
    sink = ChatSink()
    yield sink
    sink.stop()


def test_a_worker_posts_each_chat_notification_once_and_waits_out_a_429(chat_sink, celery_worker_process):
    # given a cohort whose announcements webhook answers 429 (Retry-After: 2) once, and a learner's own
    program = program_load(data=PROGRAM, source="e2e.yaml").program
    cohort = services.cohort_create(
        program=program,
        name="Chat",
        start_date=monday_this_week(),
        timezone="Africa/Lagos",
        chat_webhook_url=chat_sink.url("/hooks/cohort"),
    )
    ada = services.enrollment_create(
        cohort=cohort, email="ada@example.com", chat_webhook_url=chat_sink.url("/hooks/ada")
    )
    chat_sink.answer("/hooks/cohort", Answer(429, "slow down", {"Retry-After": "2"}))
    now = datetime.now(tz=UTC)
    for enrollment in (None, ada):
        Notification.objects.create(
            kind=Notification.Kind.UNIT_UNLOCKED,
            cohort=cohort,
            enrollment=enrollment,
            subject="week-0",
            effective_at=now,
            channel=Channel.CHAT,
            payload={"title": "Week 0"},
        )
    rows = Notification.objects.filter(cohort=cohort, channel=Channel.CHAT)

    # when the worker sweeps the outbox (as Beat would), again and again
    def all_sent():
        sweep.delay()
        return set(rows.values_list("status", flat=True)) == {Notification.Status.SENT}

    wait_for(all_sent, 40, "both chat rows sent", [celery_worker_process], every=0.5)

    # then ada's webhook got one post, and the cohort's two: the 429, then one 2 s or more later
    assert len(chat_sink.to("/hooks/ada")) == 1
    first, second = chat_sink.to("/hooks/cohort")
    assert second.at - first.at >= 2.0
    assert second.json["content"].startswith("**Week 0 is unlocked**")
    assert rows.get(enrollment=None).attempts == 2
