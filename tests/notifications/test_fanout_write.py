"""The fan-out: an effect writes, per learner, an in-app row (already delivered), an email row and a chat row
for those with a webhook, plus one cohort announcement for cohort-wide kinds; a re-run writes nothing."""

from datetime import timedelta

import pytest
import time_machine

from cohorts.models import Cohort, Enrollment
from notifications import effects as notification_effects
from notifications import policy
from notifications import services as notification_services
from notifications.models import Notification
from notifications.services import NO_ADDRESS, outbox_sweep, outbox_write
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db

Status = Notification.Status


def channels_by_learner(cohort) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for email, channel, status in Notification.objects.filter(cohort=cohort).values_list(
        "enrollment__email", "channel", "status"
    ):
        found.setdefault(email, []).append((channel, status))
    return {email: sorted(rows) for email, rows in found.items()}


def test_an_unlock_writes_each_learners_channels_and_one_announcement(make_cohort):
    # given ada with her own chat webhook, bob without, and a cohort chat webhook
    cohort = make_cohort()
    Enrollment.objects.filter(email="ada@example.com").update(chat_webhook_url="https://chat.example/ada")
    Cohort.objects.filter(pk=cohort.pk).update(chat_webhook_url="https://chat.example/cohort")

    # when the unlock's effect runs
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))

    # then each learner has an in-app row, sent as written, an email row pending, and ada a chat row
    assert channels_by_learner(cohort) == {
        "ada@example.com": [("chat", "pending"), ("email", "pending"), ("inapp", "sent")],
        "bob@example.com": [("email", "pending"), ("inapp", "sent")],
        None: [("chat", "pending")],  # the one cohort announcement
    }
    inapp = Notification.objects.filter(channel="inapp")
    assert {(row.sent_at, row.read_at) for row in inapp} == {(PINNED_NOW, None)}
    announcement = Notification.objects.get(enrollment=None)
    assert (announcement.kind, announcement.subject, announcement.cohort_id) == (
        "unit_unlocked",
        "week-0",
        cohort.pk,
    )
    assert announcement.payload == {"cohort": cohort.name, "title": "Week 0"}


def test_a_personal_kind_is_not_announced_to_the_cohort(make_cohort):
    cohort = make_cohort()
    Cohort.objects.filter(pk=cohort.pk).update(chat_webhook_url="https://chat.example/cohort")
    notification_effects.notify(cohort, cohort.events.get(key="remind:p0:1h"))
    assert not Notification.objects.filter(enrollment=None).exists()
    assert Notification.objects.filter(kind="reminder").count() == 4  # in-app and email, two learners


def test_a_rerun_writes_nothing_and_leaves_rows_as_they_are(make_cohort):
    cohort = make_cohort()
    Cohort.objects.filter(pk=cohort.pk).update(chat_webhook_url="https://chat.example/cohort")
    ids = list(cohort.enrollments.values_list("pk", flat=True))
    args = {
        "kind": "window_opened",
        "cohort_id": cohort.pk,
        "enrollment_ids": ids,
        "subject": "p0",
        "effective_at": PINNED_NOW,
        "payload": {"title": "Project 0"},
    }
    assert outbox_write(**args) == 5  # 2 in-app + 2 email + 1 announcement
    outbox_sweep()  # the emails go out
    read = Notification.objects.filter(channel="inapp").first()
    Notification.objects.filter(pk=read.pk).update(read_at=PINNED_NOW)
    before = sorted(Notification.objects.values_list("pk", "channel", "status", "read_at", "attempts"))

    # when the same effect is written again (a task run twice)
    assert outbox_write(**args) == 0

    # then nothing new and nothing changed: no second in-app row, no email back to pending
    assert (
        sorted(Notification.objects.values_list("pk", "channel", "status", "read_at", "attempts")) == before
    )


def test_a_not_before_is_carried_to_the_rows_that_wait(make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    later = PINNED_NOW.replace(hour=13)
    outbox_write(
        kind="date_changed",
        cohort_id=cohort.pk,
        enrollment_ids=[cohort.enrollments.get().pk],
        subject="p0",
        effective_at=PINNED_NOW,
        payload={},
        not_before=later,
    )
    assert Notification.objects.get(channel="email").not_before == later
    assert outbox_sweep().sent == 0  # not before its time


def test_a_learner_without_an_email_address_gets_in_app_only_and_no_error_loop(make_cohort, smtp):
    # given a learner whose address was removed (no email to send to)
    cohort = make_cohort()
    Enrollment.objects.filter(email="bob@example.com").update(email="")
    # when an unlock is written and delivered
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    done = outbox_sweep()
    # then ada got her email; bob has his feed entry and an email row suppressed with the reason
    assert (done.sent, done.retry, done.failed) == (1, 0, 0)
    bob = Notification.objects.filter(enrollment__email="")
    assert sorted(bob.values_list("channel", "status", "last_error")) == [
        ("email", "suppressed", NO_ADDRESS),
        ("inapp", "sent", ""),
    ]
    assert [m["To"] for m in smtp.messages] == ["ada@example.com"]


def test_rows_take_their_first_state_from_the_policy(make_cohort, monkeypatch):
    # given a policy (the contract N2's real one keeps) saying: bob turned this kind off, ada is held
    cohort = make_cohort()
    ada, bob = cohort.enrollments.order_by("email")
    held = policy.Decision(Status.HELD, Notification.HoldReason.QUIET_HOURS, PINNED_NOW.replace(hour=23))
    off = policy.Decision(Status.SUPPRESSED)

    def initial(*, kind, channel, enrollment_ids, now):
        assert now == PINNED_NOW
        if channel == "inapp":
            return {ada.pk: policy.WRITTEN, bob.pk: off}
        return {ada.pk: held, bob.pk: off}

    monkeypatch.setattr(notification_services, "initial", initial)
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    # then bob has no feed entry and a suppressed email kept as history; ada's email waits
    rows = Notification.objects.filter(channel__in=["inapp", "email"])
    assert sorted(rows.values_list("enrollment__email", "channel", "status", "hold_reason")) == [
        ("ada@example.com", "email", "held", "quiet_hours"),
        ("ada@example.com", "inapp", "sent", ""),
        ("bob@example.com", "email", "suppressed", ""),
    ]
    assert rows.get(enrollment=ada, channel="email").not_before == held.not_before


def test_the_policy_stub_says_immediately_for_everyone():
    decisions = policy.initial(kind="reminder", channel="email", enrollment_ids=[1, 2], now=PINNED_NOW)
    assert decisions == {1: policy.Decision(Status.PENDING), 2: policy.Decision(Status.PENDING)}
    inapp = policy.initial(kind="reminder", channel="inapp", enrollment_ids=[1], now=PINNED_NOW)
    assert inapp == {1: policy.Decision(Status.SENT)}


def test_an_in_app_row_the_policy_held_shows_in_the_feed_once_released(make_cohort, monkeypatch):
    # given a policy that holds ada's in-app row until 13:00 (quiet hours, say)
    cohort = make_cohort(learners=("ada@example.com",))
    later = PINNED_NOW.replace(hour=13)

    def initial(*, kind, channel, enrollment_ids, now):
        return dict.fromkeys(enrollment_ids, policy.Decision(Status.PENDING, not_before=later))

    monkeypatch.setattr(notification_services, "initial", initial)
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    row = Notification.objects.get(channel="inapp")
    assert (row.status, row.sent_at) == (Status.PENDING, None)
    # when the sweep runs after its not-before, it is "delivered": marked sent, so the feed shows it
    with time_machine.travel(later + timedelta(seconds=1), tick=False):
        outbox_sweep()
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.sent_at == later + timedelta(seconds=1)
