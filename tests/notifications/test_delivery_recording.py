"""Each message's result is in the database before the next message goes out (one SMTP connection per
batch), so a sender killed mid-batch resends at most one; a sender that lost its rows stops."""

import threading
from datetime import timedelta

import pytest

from notifications import effects as notification_effects
from notifications.channels.email import EmailChannel
from notifications.models import Notification
from notifications.services import outbox_claim, outbox_deliver

pytestmark = pytest.mark.django_db(transaction=True)  # the server's thread reads what the sender committed

LEARNERS = [f"l{i}@example.com" for i in range(4)]


def in_own_thread(fn):
    """Run a database call from the SMTP server's handler in a thread of its own (its own connection)."""
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def claimed_emails(cohort) -> list[int]:
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    return outbox_claim(batch=100)


def test_each_result_is_recorded_before_the_next_message_is_sent(make_cohort, smtp):
    # given four claimed emails, and a server that notes, as each message arrives, how many are recorded
    ids = claimed_emails(make_cohort(learners=LEARNERS))
    seen: list[int] = []
    accept = smtp.handle_DATA

    async def handle_DATA(server, session, envelope):
        seen.append(
            in_own_thread(lambda: Notification.objects.filter(status="sent", channel="email").count())
        )
        return await accept(server, session, envelope)

    smtp.handle_DATA = handle_DATA
    # when they are delivered
    done = outbox_deliver(ids=ids)
    # then when message k arrived, the k-1 before it were already recorded sent; one connection in all
    assert done.sent == 4
    assert seen == [0, 1, 2, 3]
    assert smtp.connections == 1


def test_the_channel_yields_each_result_as_its_message_is_accepted(make_cohort, smtp):
    ids = claimed_emails(make_cohort(learners=LEARNERS))
    rows = list(Notification.objects.filter(pk__in=ids).select_related("enrollment__cohort").order_by("pk"))
    results = EmailChannel().send_batch(rows)
    first = next(results)
    assert (first.id, first.outcome) == (rows[0].pk, "sent")
    assert len(smtp.messages) == 1  # the second is not sent before the first is reported
    results.close()  # a caller that stops early: the connection is closed, nothing more goes out
    assert len(smtp.messages) == 1


def test_a_sender_whose_rows_were_taken_over_stops(make_cohort, smtp):
    # given four claimed emails; while the first is being accepted, another sender takes over the rest
    # (as if our lease had run out and the sweep had reclaimed them)
    ids = claimed_emails(make_cohort(learners=LEARNERS))
    accept = smtp.handle_DATA

    async def handle_DATA(server, session, envelope):
        if not smtp.messages:
            in_own_thread(
                lambda: Notification.objects.filter(pk__in=ids[1:]).update(
                    lease_until=Notification.objects.get(pk=ids[1]).lease_until + timedelta(minutes=5)
                )
            )
        return await accept(server, session, envelope)

    smtp.handle_DATA = handle_DATA
    done = outbox_deliver(ids=ids)
    # then the first is recorded, the second (already on the wire) is the other sender's to record, and
    # we stop there: the other two are never sent by us
    assert (done.sent, done.lost) == (1, 3)
    assert len(smtp.messages) == 2
    assert (
        list(Notification.objects.filter(pk__in=ids[1:]).values_list("status", flat=True)) == ["sending"] * 3
    )
