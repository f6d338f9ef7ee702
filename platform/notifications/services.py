"""The outbox: effects write rows (the unique key makes a repeat a no-op); senders claim and deliver them."""

import json
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q

from cohorts.models import Cohort, Enrollment
from core import clock
from notifications import policy
from notifications.channels.base import Channel as Sender
from notifications.channels.base import Outcome, Result
from notifications.channels.chat import ChatChannel
from notifications.channels.email import EmailChannel
from notifications.channels.inapp import InAppChannel
from notifications.models import Channel, Notification
from notifications.policy import Decision, initial

NO_ADDRESS = "no email address: in-app only"


# Kinds that concern the whole cohort alike: they are also announced once on the cohort's chat webhook.
# Reminders, "due passed", CI results and digests are personal (and would be noise in a shared channel).
COHORT_WIDE = frozenset(
    {
        Notification.Kind.UNIT_UNLOCKED,
        Notification.Kind.WINDOW_OPENED,
        Notification.Kind.WINDOW_CLOSED,
        Notification.Kind.DATE_CHANGED,
    }
)


@transaction.atomic
def outbox_write(
    *,
    kind: str,
    cohort_id: int,
    enrollment_ids: Iterable[int],
    subject: str,
    effective_at: datetime,
    payload: dict,
    not_before: datetime | None = None,
) -> int:
    """Fan an effect out: per learner an in-app row, an email row and (if they gave a webhook) a chat
    row, plus one cohort chat announcement for a cohort-wide kind; return how many rows are new.

    Each row's first state is the policy's (policy.initial). In-app rows are the feed: delivered by being
    written, so they are written sent, inside the effect's transaction, exactly once per learner and event;
    a learner who turned the kind off in-app gets none. Rows already there (a task run twice) stay as
    they are: the unique keys make a repeat a no-op. One set-based INSERT ... SELECT per channel and
    decision, so a cohort of 10,000 costs a few statements rather than 10,000 objects.
    """
    ids = sorted(set(enrollment_ids))
    now = clock.now()
    written = 0
    if ids:
        for channel in (Channel.INAPP, Channel.EMAIL, Channel.CHAT):
            decisions = initial(kind=kind, channel=channel, enrollment_ids=ids, now=now)
            groups: dict[Decision, list[int]] = defaultdict(list)
            for eid in ids:
                groups[decisions[eid]].append(eid)
            for decision, group in groups.items():
                if channel == Channel.INAPP and decision.status == Notification.Status.SUPPRESSED:
                    continue  # off in-app: no feed entry at all
                wait = max(filter(None, (decision.not_before, not_before)), default=None)
                if (
                    channel == Channel.INAPP
                    and decision.status == Notification.Status.SENT
                    and wait
                    and wait > now
                ):
                    # A debounced message (a date change) waits in the feed too: pending until then,
                    # rewritten by later edits, and "delivered" (marked sent) by the in-app channel.
                    decision = Decision(Notification.Status.PENDING, not_before=wait)
                written += _insert_select(
                    kind=kind,
                    cohort_id=cohort_id,
                    enrollment_ids=group,
                    subject=subject,
                    effective_at=effective_at,
                    payload=payload,
                    channel=channel,
                    decision=decision,
                    not_before=wait,  # the later of the policy's hold and the caller's (a date change)
                    now=now,
                )
    if kind in COHORT_WIDE:
        written += _announce(
            kind=kind,
            cohort_id=cohort_id,
            subject=subject,
            effective_at=effective_at,
            payload=payload,
            not_before=not_before,
        )
    return written


def _announce(
    *, kind: str, cohort_id: int, subject: str, effective_at: datetime, payload: dict, not_before
) -> int:
    """One chat row for the whole cohort (no learner), when the cohort has a chat webhook."""
    if not Cohort.objects.filter(pk=cohort_id).exclude(chat_webhook_url="").exists():
        return 0
    key = {"kind": kind, "cohort_id": cohort_id, "subject": subject, "effective_at": effective_at}
    if Notification.objects.filter(**key, enrollment=None, channel=Channel.CHAT).exists():
        return 0
    row = Notification(**key, enrollment=None, channel=Channel.CHAT, payload=payload, not_before=not_before)
    Notification.objects.bulk_create([row], ignore_conflicts=True)
    return 1


def _insert_select(
    *,
    kind: str,
    cohort_id: int,
    enrollment_ids: list[int],
    subject: str,
    effective_at: datetime,
    payload: dict,
    channel: str,
    decision: Decision,
    not_before: datetime | None,
    now: datetime,
) -> int:
    """INSERT ... SELECT one row per enrollment of the list (ON CONFLICT DO NOTHING: the unique key)."""
    ops = connection.ops
    postgres = connection.vendor == "postgresql"
    ts = "%s::timestamptz" if postgres else "%s"
    status = decision.status
    sent_at = now if status == Notification.Status.SENT else None
    table = Notification._meta.db_table
    enrollments = Enrollment._meta.db_table
    status_sql, error_sql, extra = "%s", "%s", ""
    params_status: list = [status]
    params_error: list = [""]
    if channel == Channel.EMAIL:
        # No address, nothing to send: kept as history, never retried (never an error loop).
        status_sql = "CASE WHEN e.email = '' THEN %s ELSE %s END"
        params_status = [Notification.Status.SUPPRESSED, status]
        error_sql = "CASE WHEN e.email = '' THEN %s ELSE '' END"
        params_error = [NO_ADDRESS]
    elif channel == Channel.CHAT:
        extra = " AND e.chat_webhook_url <> ''"
    if postgres:
        members = "e.id = ANY(%s)"
        ids_param: object = enrollment_ids
    else:
        members = "e.id IN (SELECT value FROM json_each(%s))"
        ids_param = json.dumps(enrollment_ids)
    # Only our own table names and fixed fragments are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (kind, cohort_id, enrollment_id, subject, effective_at, channel,"  # noqa: S608
        " payload,"
        " not_before, status, hold_reason, digest_id, read_at, lease_until, attempts, last_error,"
        " rendered_subject, rendered_body, created_at, sent_at)"
        f" SELECT %s, %s, e.id, %s, {ts}, %s, %s, {ts}, {status_sql}, %s, NULL, NULL, NULL, 0, {error_sql},"
        f" '', '', {ts}, {ts}"
        f" FROM {enrollments} e WHERE {members} AND e.cohort_id = %s{extra}"
        " ON CONFLICT DO NOTHING"
    )
    params = [
        kind,
        cohort_id,
        subject,
        ops.adapt_datetimefield_value(effective_at),
        channel,
        ops.adapt_json_value(payload, DjangoJSONEncoder),
        ops.adapt_datetimefield_value(not_before),
        *params_status,
        decision.hold_reason,
        *params_error,
        ops.adapt_datetimefield_value(now),
        ops.adapt_datetimefield_value(sent_at),
        ids_param,
        cohort_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _claimable(now: datetime, grace: timedelta | None = None) -> Q:
    """Pending rows past their not-before time, and sending rows whose sender's lease ran out. With a
    grace, rows written less than that long ago are left to the delivery their effect enqueued."""
    due = Q(status=Notification.Status.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    if grace:
        due &= Q(not_before__isnull=False) | Q(created_at__lte=now - grace)
    orphaned = Q(status=Notification.Status.SENDING, lease_until__lt=now)
    return due | orphaned


@transaction.atomic
def outbox_claim(
    *,
    batch: int | None = None,
    lease: timedelta | None = None,
    ids: Iterable[int] | None = None,
    grace: timedelta | None = None,
    take_over: bool = False,
) -> list[int]:
    """Mark up to `batch` deliverable rows (of `ids`, when given: all of those that are deliverable) as
    sending, leased to the caller; return their ids.

    Its own short transaction: PostgreSQL's SKIP LOCKED lets concurrent claims take disjoint rows, and
    SQLite's IMMEDIATE transactions (settings) serialize them. The update re-checks the state, so a row
    is never claimed twice while its lease holds.

    take_over (with ids): also claim those of the rows still sending under an unexpired lease. Only for
    a redelivered delivery message, whose first run died with the claim (the worker lost its process):
    the rows' sender is gone, so they need not wait for the lease to run out.
    """
    now = clock.now()
    lease = lease or timedelta(seconds=settings.NEXUS_NOTIFY_LEASE)
    claimable = _claimable(now, grace)
    if take_over and ids is not None:
        claimable |= Q(status=Notification.Status.SENDING)
    rows = Notification.objects.filter(claimable)
    if ids is not None:
        rows = rows.filter(pk__in=sorted(set(ids)))
    else:
        rows = rows.order_by("effective_at", "pk")
    found = rows.select_for_update(skip_locked=True).values_list("pk", flat=True)
    found = list(found if ids is not None else found[: batch or settings.NEXUS_NOTIFY_BATCH])
    if not found:
        return []
    Notification.objects.filter(_claimable(now), pk__in=found).update(
        status=Notification.Status.SENDING, lease_until=now + lease
    )
    return list(
        Notification.objects.filter(pk__in=found, status=Notification.Status.SENDING, lease_until=now + lease)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


CHANNELS: dict[str, type[Sender]] = {
    EmailChannel.name: EmailChannel,
    ChatChannel.name: ChatChannel,
    InAppChannel.name: InAppChannel,
}


def _channel(name: str) -> Sender | None:
    cls = CHANNELS.get(name)
    return cls() if cls else None


def _backoff(attempts: int) -> timedelta:
    """Doubling from NEXUS_NOTIFY_RETRY_BASE, plus up to NEXUS_NOTIFY_RETRY_JITTER of it at random, so rows
    that failed together (a server that was down) do not all come back in the same second."""
    delay = settings.NEXUS_NOTIFY_RETRY_BASE * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=delay * (1 + random.uniform(0, settings.NEXUS_NOTIFY_RETRY_JITTER)))  # noqa: S311


@dataclass
class Delivered:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    lost: int = 0  # rows another sender took over (our lease ran out): left to it


def outbox_deliver(*, ids: Iterable[int], chunk: int | None = None) -> Delivered:
    """Send claimed (sending) rows in chunks, one channel batch each, recording each row's result as
    soon as the channel reports it (right after the server accepted the message), so a sender killed
    mid-batch resends at most the one message it was on.

    Rows in any other state are left alone (already sent, or reclaimed by another sender). Should a
    row turn out to be no longer ours when its result is recorded (our lease ran out and another
    sender claimed it), the batch stops there: the rest is the other sender's. Transient errors put a
    row back to pending with a backoff, until the last attempt; permanent ones fail it.
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
        with _relaxed_commits():
            for name, batch in by_channel.items():
                _deliver_batch(name, batch, done)
    return done


def _deliver_batch(name: str, batch: list[Notification], done: Delivered) -> None:
    by_id = {row.pk: row for row in batch}
    channel = _channel(name)
    if channel is None:
        for row in batch:
            _record(Result(row.pk, Outcome.FAILED, f"no channel named {name!r}"), row, done)
        return
    batch = policy.hold_over_cap(batch, clock.now())  # over the learner's hourly cap: held for the digest
    if not batch:
        return
    by_id = {row.pk: row for row in batch}
    results = channel.send_batch(batch)
    try:
        for result in results:
            if not _record(result, by_id[result.id], done):
                done.lost += len(by_id)
                break  # no longer ours: stop sending (closing the generator closes its connection)
            del by_id[result.id]
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _record(result: Result, row: Notification, done: Delivered) -> bool:
    """Record one row's result, if the row is still ours; say whether it was."""
    now = clock.now()
    attempts = row.attempts + 1
    fields = {
        "attempts": attempts,
        "lease_until": None,
        "rendered_subject": result.subject[:255],
        "rendered_body": result.body,
    }
    if result.outcome == Outcome.SENT:
        fields |= {"status": Notification.Status.SENT, "sent_at": now, "last_error": ""}
    elif result.outcome == Outcome.RETRY and attempts < settings.NEXUS_NOTIFY_MAX_ATTEMPTS:
        # Never before the peer's Retry-After (a 429), however short our own backoff is.
        wait = max(_backoff(attempts), timedelta(seconds=result.retry_after or 0))
        fields |= {
            "status": Notification.Status.PENDING,
            "not_before": now + wait,
            "last_error": result.error,
        }
    else:
        error = result.error
        if result.outcome == Outcome.RETRY:
            error = f"gave up after {attempts} attempts: {error}"
        fields |= {"status": Notification.Status.FAILED, "last_error": error}
    # Only a row still in our hands moves: still sending, under the lease we claimed it with.
    if fields["status"] == Notification.Status.SENT:
        mine = _record_sent(row, fields, now)
    else:
        mine = Notification.objects.filter(
            pk=row.pk, status=Notification.Status.SENDING, lease_until=row.lease_until
        ).update(**fields)
    if not mine:
        return False
    if fields["status"] == Notification.Status.SENT:
        done.sent += 1
    elif fields["status"] == Notification.Status.PENDING:
        done.retry += 1
    else:
        done.failed += 1
    return True


@contextmanager
def _relaxed_commits() -> Iterator[None]:
    """On PostgreSQL, while a batch's results are recorded, commit without waiting for the WAL flush.

    One commit per message is what bounds a killed sender to one duplicate; waiting for a disk flush
    each time would make it the slowest part of sending. A dead worker loses nothing this way (the
    server has the commit); only a database crash could lose the last fraction of a second of records,
    whose rows, still "sending", are then sent again: a duplicate, never a loss. Reset afterwards, so
    the connection's next user (an effect's fan-out, say) commits durably again.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _record_sent(row: Notification, fields: dict, now: datetime) -> int:
    """The common case, once per message sent, as one prepared statement: the ORM's query building
    cost a third of the time a sender spent recording (benchmarks/fanout.py)."""
    ops = connection.ops
    sql = (
        f"UPDATE {Notification._meta.db_table} SET status = %s, attempts = %s, lease_until = NULL,"  # noqa: S608
        " rendered_subject = %s, rendered_body = %s, sent_at = %s, last_error = ''"
        " WHERE id = %s AND status = %s AND lease_until = %s"
    )
    params = [
        Notification.Status.SENT,
        fields["attempts"],
        fields["rendered_subject"],
        fields["rendered_body"],
        ops.adapt_datetimefield_value(now),
        row.pk,
        Notification.Status.SENDING,
        ops.adapt_datetimefield_value(row.lease_until),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def outbox_ready(*, chunk: int | None = None) -> list[list[int]]:
    """The ids of the rows just written (within the sweep's grace) that are deliverable now, in chunks
    of `chunk`: what an entry point enqueues for delivery once an effect has committed. Older rows are
    the periodic sweep's, so two paths never queue the same backlog."""
    chunk = chunk or settings.NEXUS_NOTIFY_BATCH
    now = clock.now()
    ids = list(
        Notification.objects.filter(
            Q(not_before__isnull=True) | Q(not_before__lte=now),
            status=Notification.Status.PENDING,
            created_at__gte=now - timedelta(seconds=settings.NEXUS_NOTIFY_SWEEP_GRACE),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return [ids[i : i + chunk] for i in range(0, len(ids), chunk)]


def outbox_sweep(
    *, batch: int | None = None, max_batches: int = 20, grace: timedelta | None = None
) -> Delivered:
    """Claim and deliver everything deliverable now, a batch at a time (bounded, so a run ends). The
    periodic sweep passes a grace so it leaves rows just written to their own, parallel, delivery."""
    total = Delivered()
    policy.release_quiet(now=clock.now())
    for _ in range(max_batches):
        ids = outbox_claim(batch=batch, grace=grace)
        if not ids:
            break
        done = outbox_deliver(ids=ids, chunk=batch)
        total.sent += done.sent
        total.retry += done.retry
        total.failed += done.failed
        total.lost += done.lost
    return total


@transaction.atomic
def outbox_retry(*, ids: Iterable[int]) -> int:
    """Put failed rows back to pending (staff fixed the cause); other states are left alone."""
    return Notification.objects.filter(pk__in=list(ids), status=Notification.Status.FAILED).update(
        status=Notification.Status.PENDING, not_before=None, lease_until=None
    )


@transaction.atomic
def feed_mark_read(*, user_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark this user's unread in-app rows read (those of `ids`, or all); another's rows are never
    touched. Returns how many rows it marked."""
    rows = Notification.objects.filter(
        channel=Channel.INAPP, enrollment__user_id=user_id, read_at__isnull=True
    )
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return Notification.objects.filter(pk__in=list(rows.values_list("pk", flat=True))).update(
        read_at=clock.now()
    )
