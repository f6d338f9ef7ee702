"""The channel interface: send a batch of claimed outbox rows, say what became of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import models

from notifications.models import Notification


class Outcome(models.TextChoices):
    SENT = "sent", "Sent"
    RETRY = "retry", "Transient error: try again later"
    FAILED = "failed", "Permanent error"


@dataclass(frozen=True)
class Result:
    """What became of one row: its outcome, the error if any, and what the learner was (to be) told."""

    id: int
    outcome: Outcome
    error: str = ""
    subject: str = ""
    body: str = ""
    # Transient only: the peer asked for at least this many seconds before the next attempt (Retry-After).
    retry_after: float | None = None


class Channel:
    """A way to reach learners. Subclasses send a whole batch over one connection."""

    name: str = ""

    def send_batch(self, rows: Sequence[Notification]) -> list[Result]:
        """One Result per row, in any order; never raises for one row's failure."""
        raise NotImplementedError
