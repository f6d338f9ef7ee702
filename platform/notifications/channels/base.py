"""The channel interface: send a batch of claimed outbox rows, reporting each row's fate as it happens."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    """A way to reach learners; a new channel is one module with one subclass, listed in
    notifications.services.CHANNELS under its `name` (the Notification.channel value it sends).

    The contract of send_batch(rows), a generator:
    - rows are claimed rows of this channel (select_related enrollment__cohort and cohort; an
      announcement's enrollment is None); open one connection (SMTP, an HTTP session) for the batch;
    - yield one Result per row, in the rows' order, as soon as that row's fate is known: right after
      the server accepted (or refused) that one message, before sending the next. The caller records
      each Result in the database before it asks for the next one, so a sender killed mid-batch
      resends at most the one message it was sending (the same Message-ID / idempotency key);
    - never raise for one row's failure: classify it (Outcome.RETRY for transient errors, FAILED for
      permanent ones, with the reason in `error`); when the connection is gone, yield the error for
      each remaining row without trying them;
    - the caller may stop early (close the generator): release the connection in a `finally`.
    """

    name: str = ""

    def send_batch(self, rows: Sequence[Notification]) -> Iterator[Result]:
        raise NotImplementedError
