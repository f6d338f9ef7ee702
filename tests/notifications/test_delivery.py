"""Delivering the outbox over real SMTP (aiosmtpd on loopback): one connection per batch, times in the
learner's zone, transient errors retried later, permanent ones failed with the reason, leases honoured."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from cohorts.services import enrollment_create
from notifications import effects as notification_effects
from notifications.models import Notification
from notifications.services import outbox_claim, outbox_deliver, outbox_retry, outbox_sweep
from tests.conftest import PINNED_NOW
from tests.notifications.smtp import free_port

pytestmark = pytest.mark.django_db

Status = Notification.Status


def unlock_week_0(cohort):
    """Carry out the cohort's first unlock's notification effect: its email rows, one pending per learner."""
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    return Notification.objects.filter(enrollment__cohort=cohort, channel="email")


def test_a_batch_goes_out_over_one_connection_with_times_in_each_learners_zone(make_cohort, smtp):
    # given a Lagos cohort's unlock (Mon 2027-01-04 09:00 WAT) for three learners, one living in Kolkata
    cohort = make_cohort()
    enrollment_create(cohort=cohort, email="kim@example.com", timezone="Asia/Kolkata")
    rows = unlock_week_0(cohort)
    assert rows.count() == 3

    # when the sweep delivers the outbox
    done = outbox_sweep()

    # then each learner got one email, all over one SMTP connection
    assert (done.sent, done.retry, done.failed) == (3, 0, 0)
    assert smtp.connections == 1
    assert sorted(m["To"] for m in smtp.messages) == ["ada@example.com", "bob@example.com", "kim@example.com"]
    for message in smtp.messages:
        assert message["Subject"] == "Week 0 is unlocked"
        assert message.is_multipart()
        assert {part.get_content_type() for part in message.walk()} >= {"text/plain", "text/html"}
    [ada] = smtp.to("ada@example.com")
    [kim] = smtp.to("kim@example.com")
    text = ada.get_payload()[0].get_payload(decode=True).decode()
    assert "Mon 04 Jan 2027 09:00 WAT (Africa/Lagos)" in text
    assert (
        "Mon 04 Jan 2027 13:30 IST (Asia/Kolkata)" in kim.get_payload()[0].get_payload(decode=True).decode()
    )
    assert "rehearsal" not in text.lower()
    # and each row says it went, when, and exactly what it said
    for row in rows:
        assert row.status == Status.SENT
        assert row.sent_at == PINNED_NOW
        assert row.attempts == 1
        assert row.lease_until is None
        assert row.rendered_subject == "Week 0 is unlocked"
        assert "Week 0 is unlocked as of Mon 04 Jan 2027" in row.rendered_body
    # and a second sweep sends nothing more
    assert outbox_sweep().sent == 0
    assert len(smtp.messages) == 3


def test_a_resend_carries_the_same_message_id(make_cohort, smtp):
    cohort = make_cohort(learners=("ada@example.com",))
    row = unlock_week_0(cohort).get()
    outbox_sweep()
    # when staff send it again (failed by hand here, then retried from the admin)
    Notification.objects.filter(pk=row.pk).update(status=Status.FAILED)
    assert outbox_retry(ids=[row.pk]) == 1
    outbox_sweep()
    # then both copies carry one Message-ID, on the configured domain
    first, second = smtp.to("ada@example.com")
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].startswith(f"<notification-{row.pk}.")
    assert first["Message-ID"].endswith("@localhost>")


def test_a_reminder_names_the_due_time_and_a_rehearsal_says_it_is_one(make_cohort, settings):
    # given a rehearsal cohort's 1-hour reminder (the due is Fri 2027-01-08 17:00 WAT)
    cohort = make_cohort(speed=60)
    notification_effects.notify(cohort, cohort.events.get(key="remind:p0:1h"))
    # when it is delivered (Django's test backend)
    outbox_sweep()
    # then it names the due time in the learner's zone, and says it is a rehearsal
    message = mail.outbox[0]
    assert message.subject == "[Rehearsal] Reminder: Project 0 is due Fri 08 Jan 17:00 WAT"
    assert "Project 0 is due at Fri 08 Jan 2027 17:00 WAT (Africa/Lagos)" in message.body
    assert "THIS IS A REHEARSAL" in message.body
    assert "This is a rehearsal" in message.alternatives[0][0]


def test_a_4xx_is_retried_later_and_then_delivered_once(make_cohort, smtp, settings):
    # given the server answers 451 for ada once, then accepts her
    smtp.refuse["ada@example.com"] = ["451 4.3.0 Mailbox busy, try later"]
    rows = unlock_week_0(make_cohort())

    # when the sweep delivers
    done = outbox_sweep()

    # then bob's went; ada's is back to pending, with the error, not before the backoff
    assert (done.sent, done.retry, done.failed) == (1, 1, 0)
    ada = rows.get(enrollment__email="ada@example.com")
    assert ada.status == Status.PENDING
    assert ada.attempts == 1
    assert ada.last_error.startswith("ada@example.com: 451")
    backoff = timedelta(seconds=settings.NEXUS_NOTIFY_RETRY_BASE)
    assert (
        PINNED_NOW + backoff
        <= ada.not_before
        <= PINNED_NOW + backoff * (1 + settings.NEXUS_NOTIFY_RETRY_JITTER)
    )
    # and a sweep before then leaves it alone
    assert outbox_sweep().sent == 0
    # and one after it delivers it, once
    with time_machine.travel(ada.not_before + timedelta(seconds=1), tick=False):
        assert outbox_sweep().sent == 1
    ada.refresh_from_db()
    assert (ada.status, ada.attempts, ada.last_error) == (Status.SENT, 2, "")
    assert len(smtp.to("ada@example.com")) == 1
    assert len(smtp.to("bob@example.com")) == 1


def test_a_5xx_fails_the_row_with_the_reason(make_cohort, smtp):
    smtp.refuse["ada@example.com"] = ["550 5.1.1 No such user"]
    rows = unlock_week_0(make_cohort())
    done = outbox_sweep()
    assert (done.sent, done.retry, done.failed) == (1, 0, 1)
    ada = rows.get(enrollment__email="ada@example.com")
    assert ada.status == Status.FAILED
    assert ada.last_error == "ada@example.com: 550 5.1.1 No such user"
    assert ada.rendered_subject == "Week 0 is unlocked"  # what she would have been told
    # and it is not tried again by itself
    with time_machine.travel(PINNED_NOW + timedelta(days=1), tick=False):
        assert outbox_sweep().sent == 0
    assert smtp.to("ada@example.com") == []


def test_transient_errors_give_up_after_the_last_attempt(make_cohort, smtp, settings):
    settings.NEXUS_NOTIFY_MAX_ATTEMPTS = 2
    smtp.refuse["ada@example.com"] = ["451 4.3.0 Busy"] * 5
    row = unlock_week_0(make_cohort(learners=("ada@example.com",))).get()
    outbox_sweep()
    with time_machine.travel(PINNED_NOW + timedelta(hours=1), tick=False):
        outbox_sweep()
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.attempts == 2
    assert row.last_error.startswith("gave up after 2 attempts: ada@example.com: 451")


def test_an_unreachable_server_is_transient(make_cohort, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    rows = unlock_week_0(make_cohort())
    done = outbox_sweep()
    assert (done.sent, done.retry, done.failed) == (0, 2, 0)
    assert {r.status for r in rows} == {Status.PENDING}
    assert all("ConnectionRefusedError" in r.last_error for r in rows)


def test_a_row_left_sending_past_its_lease_is_picked_up_again(make_cohort, smtp, settings):
    # given a sender claimed the rows and died before sending
    rows = unlock_week_0(make_cohort())
    claimed = outbox_claim(batch=10)
    assert sorted(claimed) == sorted(r.pk for r in rows)
    lease = timedelta(seconds=settings.NEXUS_NOTIFY_LEASE)
    assert {(r.status, r.lease_until) for r in rows} == {(Status.SENDING, PINNED_NOW + lease)}
    # then while the lease holds nobody else takes them
    assert outbox_claim(batch=10) == []
    assert outbox_sweep().sent == 0
    # and once it runs out the sweep delivers them, once each
    with time_machine.travel(PINNED_NOW + lease + timedelta(seconds=1), tick=False):
        assert outbox_sweep().sent == 2
    # and the dead sender's late delivery (its rows are no longer 'sending') sends nothing
    assert outbox_deliver(ids=claimed).sent == 0
    assert len(smtp.messages) == 2


def test_claims_take_batches_and_deliver_only_claimed_rows(make_cohort):
    rows = unlock_week_0(make_cohort(learners=[f"l{i}@example.com" for i in range(5)]))
    first = outbox_claim(batch=2)
    second = outbox_claim(batch=10)
    assert len(first) == 2
    assert len(second) == 3
    assert not set(first) & set(second)
    assert outbox_deliver(ids=first + [r.pk for r in rows]).sent == 5  # all claimed by now
    assert outbox_deliver(ids=first).sent == 0  # sent rows are not sent again
    assert len(mail.outbox) == 5


def test_a_redelivered_chunk_takes_over_its_rows_from_its_dead_first_run(make_cohort, smtp):
    # given a chunk whose first run claimed its rows and died (its lease still holds)
    rows = unlock_week_0(make_cohort())
    ids = outbox_claim(ids=[r.pk for r in rows])
    assert len(ids) == 2
    # then an ordinary claim (another chunk, the sweep) leaves them alone
    assert outbox_claim(ids=ids) == []
    # and the redelivered message's claim takes them over, and sends them once
    assert sorted(outbox_claim(ids=ids, take_over=True)) == sorted(ids)
    assert outbox_deliver(ids=ids).sent == 2
    # and a take-over never touches rows already sent
    assert outbox_claim(ids=ids, take_over=True) == []
    assert len(smtp.messages) == 2


def test_rows_that_failed_together_come_back_spread_out(make_cohort, smtp, settings):
    # given the server answers 451 to both learners (it is down for a moment)
    smtp.refuse["ada@example.com"] = ["451 4.3.0 Try later"]
    smtp.refuse["bob@example.com"] = ["451 4.3.0 Try later"]
    rows = unlock_week_0(make_cohort())

    # when the sweep delivers
    assert outbox_sweep().retry == 2

    # then each waits its backoff plus a random share of it, so they do not return in the same instant
    backoff = timedelta(seconds=settings.NEXUS_NOTIFY_RETRY_BASE)
    ada, bob = (rows.get(enrollment__email=e).not_before for e in ("ada@example.com", "bob@example.com"))
    for at in (ada, bob):
        assert PINNED_NOW + backoff <= at <= PINNED_NOW + backoff * (1 + settings.NEXUS_NOTIFY_RETRY_JITTER)
    assert ada != bob
