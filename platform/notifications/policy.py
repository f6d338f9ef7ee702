"""Each new outbox row's first state: whether a learner hears of a kind on a channel now, later or never."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from notifications.models import Channel, Notification

Status = Notification.Status


@dataclass(frozen=True)
class Decision:
    """A row's initial status (SENT for an in-app row delivered by being written; SUPPRESSED: off),
    why it is held if it is, and not before when it may go out."""

    status: str
    hold_reason: str = Notification.HoldReason.NONE
    not_before: datetime | None = None


IMMEDIATELY = Decision(Status.PENDING)
WRITTEN = Decision(Status.SENT)  # in-app: the row is the feed entry


def initial(*, kind: str, channel: str, enrollment_ids: Iterable[int], now: datetime) -> dict[int, Decision]:
    """The decision for each learner (every id gets one). This stub says "immediately" for everyone;
    preferences, quiet hours, the hourly cap and the digest replace its body (issue 8, N2)."""
    decision = WRITTEN if channel == Channel.INAPP else IMMEDIATELY
    return dict.fromkeys(enrollment_ids, decision)
