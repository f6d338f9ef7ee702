"""Outbox writes: effects record what to tell whom; the unique key makes a repeat a no-op."""

from collections.abc import Iterable
from datetime import datetime

from notifications.models import Notification


def outbox_write(
    *,
    kind: str,
    enrollment_ids: Iterable[int],
    subject: str,
    effective_at: datetime,
    payload: dict,
    channel: str = "email",
) -> int:
    """Queue one notification per learner; rows already written (a task run twice) are left alone."""
    rows = [
        Notification(
            kind=kind,
            enrollment_id=eid,
            subject=subject,
            effective_at=effective_at,
            channel=channel,
            payload=payload,
        )
        for eid in enrollment_ids
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)
