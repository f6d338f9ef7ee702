"""The fan-out benchmark's reference tasks (loaded with `worker -I`): the naive designs and the email floor."""

from __future__ import annotations

from celery import shared_task
from django.core.mail import EmailMultiAlternatives, get_connection, send_mail

from core import clock
from notifications.channels.email import message_id
from notifications.models import Channel, Notification
from notifications.render import render

NAIVE_INAPP = "bench.fanout.naive_inapp"
NAIVE_EMAIL = "bench.fanout.naive_email"
FLOOR_EMAIL = "bench.fanout.floor_email"


@shared_task(name=NAIVE_INAPP)
def naive_inapp(cohort_id: int, enrollment_id: int, subject: str, effective_at: str) -> None:
    """The naive in-app design: one task per learner, one ORM save."""
    Notification(
        kind=Notification.Kind.UNIT_UNLOCKED,
        cohort_id=cohort_id,
        enrollment_id=enrollment_id,
        subject=subject,
        effective_at=effective_at,
        channel=Channel.INAPP,
        payload={"title": "Week 0"},
        status=Notification.Status.SENT,
        sent_at=clock.now(),
    ).save()


def _rows(ids: list[int]) -> list[Notification]:
    return list(Notification.objects.filter(pk__in=ids).select_related("enrollment__cohort").order_by("pk"))


@shared_task(name=NAIVE_EMAIL)
def naive_email(notification_id: int) -> None:
    """The naive email design: one task per learner calling send_mail (a new SMTP connection each)."""
    [row] = _rows([notification_id])
    text = render(row)
    send_mail(text.subject, text.text, None, [row.enrollment.email], html_message=text.html)


@shared_task(name=FLOOR_EMAIL, soft_time_limit=600, time_limit=660)
def floor_email(ids: list[int]) -> None:
    """The email floor: one process sends the same messages over one persistent SMTP connection."""
    rows = _rows(ids)
    with get_connection() as connection:
        for row in rows:
            text = render(row)
            message = EmailMultiAlternatives(
                subject=text.subject,
                body=text.text,
                to=[row.enrollment.email],
                connection=connection,
                headers={"Message-ID": message_id(row)},
            )
            message.attach_alternative(text.html, "text/html")
            connection.send_messages([message])
