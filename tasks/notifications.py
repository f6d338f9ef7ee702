"""Notification tasks: deliver claimed outbox rows, the sweep that claims and delivers what is due, digests."""

from dataclasses import asdict

from celery import shared_task
from django.db import OperationalError, transaction

from core import clock
from notifications.digests import digests_write
from notifications.services import outbox_deliver, outbox_sweep
from tasks.policy import IDEMPOTENT

# A sender's SMTP errors are handled row by row by the service (transient ones back to pending with a
# backoff, the sweep picks them up); the task itself retries only when the database was unavailable.
# Its lease (NEXUS_NOTIFY_LEASE, 300 s) outlasts the hard time limit, so a row is never sent by two
# senders at once; a sender killed mid-send leaves rows the sweep reclaims once the lease runs out.


@shared_task(
    name="nexus.notifications.deliver",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=180,
    time_limit=240,
)
def deliver(ids: list[int]) -> dict:
    """Send these claimed rows; rows no longer in 'sending' are left alone."""
    return asdict(outbox_deliver(ids=ids))


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
    """Claim and deliver every row that is due (new, retried, or orphaned by a dead sender)."""
    return asdict(outbox_sweep())


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
    """Hourly: write the daily digest of every learner whose local time is now 18:xx; the sweep sends them."""
    written = digests_write(now=clock.now())
    if written:
        transaction.on_commit(sweep.delay)
    return written
