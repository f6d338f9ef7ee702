"""Notification reads: a learner's in-app feed."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import Channel, Notification


def feed_rows(*, user_id: int) -> QuerySet[Notification]:
    """The in-app rows of every enrollment of this user (only theirs), newest first."""
    return (
        Notification.objects.filter(
            channel=Channel.INAPP, enrollment__user_id=user_id, status=Notification.Status.SENT
        )
        .select_related("enrollment__cohort", "cohort")
        .order_by("-created_at", "-pk")
    )


def feed_unread_count(*, user_id: int) -> int:
    return feed_rows(user_id=user_id).filter(read_at__isnull=True).count()
