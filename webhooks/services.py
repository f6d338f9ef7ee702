"""Deliveries' state machine (claim, process, retry) and hooks verified by their ping."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Q

from core import clock
from webhooks.models import Delivery, Hook

logger = logging.getLogger("nexus.webhooks")


@transaction.atomic
def hook_verify(*, hook_id: int, kind: str, target: str, events: list[str], verified_at: datetime) -> Hook:
    """Mark a hook verified: its signed ping reached us."""
    hook, _ = Hook.objects.update_or_create(
        hook_id=hook_id,
        defaults={"kind": kind, "target": target, "events": events, "verified_at": verified_at},
    )
    return hook


def _claimable(now: datetime) -> Q:
    lease = timedelta(seconds=settings.NEXUS_WEBHOOK_LEASE)
    return Q(state=Delivery.State.RECEIVED) | Q(state=Delivery.State.PROCESSING, claimed_at__lt=now - lease)


@transaction.atomic
def delivery_claim(*, limit: int, ids: list[int] | None = None) -> list[int]:
    """Claim up to `limit` deliveries waiting (or whose claim ran out), oldest first; their ids."""
    now = clock.now()
    query = Delivery.objects.filter(_claimable(now))
    if ids is not None:
        query = query.filter(pk__in=ids)
    claimed = list(
        query.order_by("id").select_for_update(skip_locked=True).values_list("id", flat=True)[:limit]
    )
    if claimed:
        Delivery.objects.filter(pk__in=claimed).update(
            state=Delivery.State.PROCESSING, claimed_at=now, attempts=F("attempts") + 1
        )
    return claimed


def delivery_process(*, delivery_id: int) -> str:
    """Run a claimed delivery's handler; its state becomes done or failed (with the error). Its state."""
    from webhooks.handlers import dispatch  # handlers import these services

    delivery = Delivery.objects.get(pk=delivery_id)
    if delivery.state != Delivery.State.PROCESSING:
        return delivery.state
    try:
        with transaction.atomic():
            outcome = dispatch(delivery)
    except OperationalError:
        # The database, not the delivery: back in the queue for the task's retry or the sweep.
        Delivery.objects.filter(pk=delivery_id).update(state=Delivery.State.RECEIVED, claimed_at=None)
        raise
    except Exception as exc:
        logger.exception("github delivery %s (%s) failed", delivery.delivery_id, delivery.event)
        Delivery.objects.filter(pk=delivery_id).update(
            state=Delivery.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], processed_at=clock.now()
        )
        return Delivery.State.FAILED
    Delivery.objects.filter(pk=delivery_id).update(
        state=Delivery.State.DONE, outcome=outcome, error="", processed_at=clock.now()
    )
    return Delivery.State.DONE


def delivery_drain(*, batch: int, budget: float) -> tuple[dict[str, int], bool]:
    """Claim and process waiting deliveries a batch at a time, until none is left or `budget` seconds.

    The counts per final state, and whether it stopped on the budget with work possibly left.
    """
    counts: dict[str, int] = {}
    deadline = time.monotonic() + budget
    while ids := delivery_claim(limit=batch):
        for pk in ids:
            state = delivery_process(delivery_id=pk)
            counts[state] = counts.get(state, 0) + 1
        if time.monotonic() > deadline:
            return counts, True
    return counts, False


@transaction.atomic
def delivery_requeue(*, ids: list[int]) -> list[int]:
    """Put failed or done deliveries back to wait (the admin's "process again"); the ids requeued."""
    requeue = list(
        Delivery.objects.filter(pk__in=ids)
        .exclude(state=Delivery.State.PROCESSING)
        .values_list("id", flat=True)
    )
    Delivery.objects.filter(pk__in=requeue).update(state=Delivery.State.RECEIVED, claimed_at=None, error="")
    return requeue
