"""Notification tasks: deliver a chunk of outbox rows, enqueue the chunks an effect wrote, the sweep, digests."""

from dataclasses import asdict
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from core import clock
from notifications.digests import digests_write
from notifications.services import outbox_claim, outbox_deliver, outbox_ready, outbox_sweep
from tasks.policy import IDEMPOTENT

# A sender's SMTP errors are handled row by row by the service (transient ones back to pending with a
# backoff, the sweep picks them up); the task itself retries only when the database was unavailable.
# Its lease (NEXUS_NOTIFY_LEASE, 300 s) outlasts the hard time limit, so a row is never sent by two
# senders at once; a sender killed mid-send leaves rows the sweep reclaims once the lease runs out.


@shared_task(
    bind=True,
    name="nexus.notifications.deliver",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=180,
    time_limit=240,
)
def deliver(self, ids: list[int]) -> dict:
    """Claim those of these rows that are still deliverable and send them (a chunk: one connection).

    Racing the sweep or another copy, only one claim wins each row. A redelivered message (its first
    run's process died: acks_late + reject_on_worker_lost) takes its rows over at once rather than
    leaving them to the sweep once the dead run's lease runs out."""
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    return asdict(outbox_deliver(ids=outbox_claim(ids=ids, take_over=redelivered)))


def enqueue_delivery() -> int:
    """Enqueue a deliver task per chunk of deliverable rows, so the workers send them in parallel.

    Entry points call this once an effect's transaction has committed (transaction.on_commit)."""
    chunks = outbox_ready()
    for chunk in chunks:
        deliver.delay(chunk)
    return len(chunks)


@shared_task(
    name="nexus.notifications.sweep",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=180,
    time_limit=240,
)
def sweep() -> dict:
    """Claim and deliver every row that is due (retried, orphaned by a dead sender, or whose delivery
    message was lost); rows just written are left to the chunks their effect enqueued."""
    return asdict(outbox_sweep(grace=timedelta(seconds=settings.NEXUS_NOTIFY_SWEEP_GRACE)))


@shared_task(
    name="nexus.notifications.digest",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=180,
    time_limit=240,
)
def digest() -> int:
    """Hourly: write the daily digest of every learner whose local time is now 18:xx; its rows are
    enqueued for delivery in chunks once written (the sweep would leave them for its grace)."""
    written = digests_write(now=clock.now())
    if written:
        transaction.on_commit(enqueue_delivery, robust=True)
    return written
