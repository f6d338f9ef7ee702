"""Daily digests: at the learner's local 18:00, one email listing every email row held for the digest."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from notifications import policy
from notifications.models import Channel, Notification

Status = Notification.Status
HoldReason = Notification.HoldReason
DIGESTED = (HoldReason.DIGEST, HoldReason.CAP)
# A digest already handed to (or past) a sender is not added to; its latecomers wait for the next one.
OPEN = (Status.PENDING, Status.HELD, Status.SUPPRESSED)


def _waiting():
    """Email rows held for the digest and not yet in one."""
    return Notification.objects.filter(
        status=Status.HELD,
        hold_reason__in=DIGESTED,
        channel=Channel.EMAIL,
        digest__isnull=True,
        enrollment__isnull=False,
    )


def digest_subject(day: date) -> str:
    """The digest's key in the outbox: one per learner and local day (a rerun finds it)."""
    return f"digest:{day.isoformat()}"


def digests_write(*, now: datetime) -> int:
    """Write today's digest for every learner whose local time is now NEXUS_DIGEST_LOCAL_HOUR:xx and who has
    rows waiting for it, linking those rows to it; return how many digests were new.

    Run hourly (Beat), so each zone has its hour once a day (a :30 or :45 zone at 18:30 or 18:45). A rerun
    in the same hour is a no-op: the rows are linked already, and the digest's unique key finds it.
    """
    hour = settings.NEXUS_DIGEST_LOCAL_HOUR
    due: dict[int, tuple[int, date, ZoneInfo]] = {}
    learners = _waiting().values_list(
        "enrollment_id", "enrollment__timezone", "enrollment__cohort__timezone", "enrollment__cohort_id"
    )
    for eid, own_zone, cohort_zone, cohort_id in learners.order_by().distinct():
        zone = policy.learner_zone(own_zone, cohort_zone)
        if zone is None or eid in due:
            continue
        local = now.astimezone(zone)
        if local.hour == hour:
            due[eid] = (cohort_id, local.date(), zone)
    written = 0
    for eid, (cohort_id, day, zone) in due.items():
        written += digest_write(enrollment_id=eid, cohort_id=cohort_id, day=day, zone=zone, now=now)
    return written


@transaction.atomic
def digest_write(*, enrollment_id: int, cohort_id: int, day: date, zone: ZoneInfo, now: datetime) -> int:
    """One learner's digest for one local day, with every waiting row linked to it; 1 if it is new."""
    decision = policy.initial(
        kind=Notification.Kind.DIGEST, channel=Channel.EMAIL, enrollment_ids=[enrollment_id], now=now
    )[enrollment_id]
    digest, created = Notification.objects.get_or_create(
        kind=Notification.Kind.DIGEST,
        enrollment_id=enrollment_id,
        subject=digest_subject(day),
        effective_at=policy.local_instant(day, time(settings.NEXUS_DIGEST_LOCAL_HOUR), zone),
        channel=Channel.EMAIL,
        defaults={
            "cohort_id": cohort_id,
            "payload": {"title": f"Your digest for {day:%a %d %b %Y}"},
            "status": decision.status,
            "hold_reason": decision.hold_reason,
            "not_before": decision.not_before,
        },
    )
    # Locked, so a sender cannot claim it between the check and the linking (SKIP LOCKED passes it by).
    digest = Notification.objects.select_for_update().get(pk=digest.pk)
    if digest.status in OPEN:
        _waiting().filter(enrollment_id=enrollment_id).update(digest=digest)
    return int(created)
