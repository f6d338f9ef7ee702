"""The outbox: effects write rows (the unique key makes a repeat a no-op); senders claim and deliver them."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from core import clock
from notifications import policy
from notifications.channels.base import Channel, Outcome, Result
from notifications.channels.chat import ChatChannel
from notifications.channels.email import EmailChannel
from notifications.models import Notification


def outbox_write(
    *,
    kind: str,
    cohort_id: int,
    enrollment_ids: Iterable[int],
    subject: str,
    effective_at: datetime,
    payload: dict,
    channel: str = "email",
    not_before: datetime | None = None,
) -> int:
    """Queue one notification per learner; rows already written (a task run twice) are left alone.
    not_before: not sent before this instant (a date change waits for the last of a burst of edits)."""
    now = clock.now()
    decisions = policy.initial(kind=kind, channel=channel, enrollment_ids=enrollment_ids, now=now)
    rows = [
        Notification(
            kind=kind,
            cohort_id=cohort_id,
            enrollment_id=eid,
            subject=subject,
            effective_at=effective_at,
            channel=channel,
            payload=payload,
            status=decision.status,
            hold_reason=decision.hold_reason,
            not_before=max(filter(None, (decision.not_before, not_before)), default=None),
            sent_at=now if decision.status == Notification.Status.SENT else None,
        )
        for eid, decision in decisions.items()
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)


def _claimable(now: datetime) -> Q:
    """Pending rows past their not-before time, and sending rows whose sender's lease ran out."""
    due = Q(status=Notification.Status.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    orphaned = Q(status=Notification.Status.SENDING, lease_until__lt=now)
    return due | orphaned


@transaction.atomic
def outbox_claim(*, batch: int | None = None, lease: timedelta | None = None) -> list[int]:
    """Mark up to `batch` deliverable rows as sending, leased to the caller; return their ids.

    Its own short transaction: PostgreSQL's SKIP LOCKED lets concurrent claims take disjoint rows, and
    SQLite's IMMEDIATE transactions (settings) serialize them. The update re-checks the state, so a row
    is never claimed twice while its lease holds.
    """
    now = clock.now()
    batch = batch or settings.NEXUS_NOTIFY_BATCH
    lease = lease or timedelta(seconds=settings.NEXUS_NOTIFY_LEASE)
    ids = list(
        Notification.objects.filter(_claimable(now))
        .order_by("effective_at", "pk")
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return []
    Notification.objects.filter(_claimable(now), pk__in=ids).update(
        status=Notification.Status.SENDING, lease_until=now + lease
    )
    return list(
        Notification.objects.filter(pk__in=ids, status=Notification.Status.SENDING, lease_until=now + lease)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


CHANNELS: dict[str, type[Channel]] = {EmailChannel.name: EmailChannel, ChatChannel.name: ChatChannel}


def _channel(name: str) -> Channel | None:
    cls = CHANNELS.get(name)
    return cls() if cls else None


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=settings.NEXUS_NOTIFY_RETRY_BASE * 2 ** max(attempts - 1, 0))


@dataclass
class Delivered:
    sent: int = 0
    retry: int = 0
    failed: int = 0


def outbox_deliver(*, ids: Iterable[int], chunk: int | None = None) -> Delivered:
    """Send claimed (sending) rows in chunks, one channel batch each, and record what became of each.

    Rows in any other state are left alone (already sent, or reclaimed by another sender). Transient
    errors put a row back to pending with a backoff, until the last attempt; permanent ones fail it.
    """
    chunk = chunk or settings.NEXUS_NOTIFY_BATCH
    ids = sorted(set(ids))
    done = Delivered()
    for start in range(0, len(ids), chunk):
        rows = list(
            Notification.objects.filter(pk__in=ids[start : start + chunk], status=Notification.Status.SENDING)
            .select_related("enrollment__cohort", "cohort")
            .order_by("pk")
        )
        by_channel: dict[str, list[Notification]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for name, batch in by_channel.items():
            channel = _channel(name)
            if channel is None:
                results = [Result(row.pk, Outcome.FAILED, f"no channel named {name!r}") for row in batch]
            else:
                batch = policy.hold_over_cap(batch, clock.now())
                results = channel.send_batch(batch) if batch else []
            attempts = {row.pk: row.attempts + 1 for row in batch}
            for result in results:
                _record(result, attempts[result.id], done)
    return done


def _record(result: Result, attempts: int, done: Delivered) -> None:
    now = clock.now()
    fields = {
        "attempts": attempts,
        "lease_until": None,
        "rendered_subject": result.subject[:255],
        "rendered_body": result.body,
    }
    if result.outcome == Outcome.SENT:
        fields |= {"status": Notification.Status.SENT, "sent_at": now, "last_error": ""}
        done.sent += 1
    elif result.outcome == Outcome.RETRY and attempts < settings.NEXUS_NOTIFY_MAX_ATTEMPTS:
        # Never before the peer's Retry-After (a 429), however short our own backoff is.
        wait = max(_backoff(attempts), timedelta(seconds=result.retry_after or 0))
        fields |= {
            "status": Notification.Status.PENDING,
            "not_before": now + wait,
            "last_error": result.error,
        }
        done.retry += 1
    else:
        error = result.error
        if result.outcome == Outcome.RETRY:
            error = f"gave up after {attempts} attempts: {error}"
        fields |= {"status": Notification.Status.FAILED, "last_error": error}
        done.failed += 1
    # Only a row still in our hands moves (another sender may have reclaimed it after our lease ran out).
    Notification.objects.filter(pk=result.id, status=Notification.Status.SENDING).update(**fields)


def outbox_sweep(*, batch: int | None = None, max_batches: int = 20) -> Delivered:
    """Claim and deliver everything deliverable now, a batch at a time (bounded, so a run ends)."""
    total = Delivered()
    policy.release_quiet(now=clock.now())
    for _ in range(max_batches):
        ids = outbox_claim(batch=batch)
        if not ids:
            break
        done = outbox_deliver(ids=ids, chunk=batch)
        total.sent += done.sent
        total.retry += done.retry
        total.failed += done.failed
    return total


@transaction.atomic
def outbox_retry(*, ids: Iterable[int]) -> int:
    """Put failed rows back to pending (staff fixed the cause); other states are left alone."""
    return Notification.objects.filter(pk__in=list(ids), status=Notification.Status.FAILED).update(
        status=Notification.Status.PENDING, not_before=None, lease_until=None
    )
