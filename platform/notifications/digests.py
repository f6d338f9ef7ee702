"""Daily digests: at the learner's local 18:00, one email listing every email row held for the digest."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Min, OuterRef, Subquery

from notifications import policy, render
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


@transaction.atomic
def digests_write(*, now: datetime) -> int:
    """Write today's digest for every learner whose local time is now NEXUS_DIGEST_LOCAL_HOUR:xx and who has
    rows waiting for it, linking those rows to it; return how many digests were new.

    Run hourly (Beat), so each zone has its hour once a day (a :30 or :45 zone at 18:30 or 18:45); a run
    up to NEXUS_DIGEST_CATCH_UP_HOURS later catches up a learner whose rows were already waiting at the
    hour and who has no digest yet that day. A rerun is a no-op: the rows are linked already, and the digest's unique key finds it. A
    constant number of queries, whatever the number of learners.
    """
    hour = settings.NEXUS_DIGEST_LOCAL_HOUR
    due: dict[int, tuple[int, date, ZoneInfo]] = {}
    learners = (
        _waiting()
        .order_by()
        .values(
            "enrollment_id", "enrollment__timezone", "enrollment__cohort__timezone", "enrollment__cohort_id"
        )
        .annotate(first=Min("created_at"))
        .values_list(
            "enrollment_id",
            "enrollment__timezone",
            "enrollment__cohort__timezone",
            "enrollment__cohort_id",
            "first",
        )
    )
    for eid, own_zone, cohort_zone, cohort_id, first in learners:
        zone = policy.learner_zone(own_zone, cohort_zone)
        if zone is None or eid in due:
            continue
        local = now.astimezone(zone)
        # Its hour; or, for rows that were already waiting at that hour, the next few hours: a run that
        # did not happen (Beat down, the workers behind at 18:00) is caught up by the next one rather
        # than a day later, but not in the middle of the night. Rows held after the hour wait for
        # tomorrow's digest.
        if local.hour == hour or (
            hour < local.hour <= hour + settings.NEXUS_DIGEST_CATCH_UP_HOURS
            and first <= policy.local_instant(local.date(), time(hour), zone)
        ):
            due[eid] = (cohort_id, local.date(), zone)
    if not due:
        return 0
    # (Learners at 18:xx at one instant share a local date, so this is one subject in practice.)
    subjects = {eid: digest_subject(day) for eid, (_, day, _) in due.items()}
    ours = Notification.objects.filter(
        kind=Notification.Kind.DIGEST,
        channel=Channel.EMAIL,
        enrollment_id__in=list(due),
        subject__in=set(subjects.values()),
    )
    existing = {(eid, subject) for eid, subject in ours.values_list("enrollment_id", "subject")}
    decisions = policy.initial(
        kind=Notification.Kind.DIGEST, channel=Channel.EMAIL, enrollment_ids=due, now=now
    )
    new = [
        Notification(
            kind=Notification.Kind.DIGEST,
            cohort_id=cohort_id,
            enrollment_id=eid,
            subject=subjects[eid],
            effective_at=policy.local_instant(day, time(hour), zone),
            channel=Channel.EMAIL,
            payload={"title": f"Your digest for {day:%a %d %b %Y}"},
            status=decisions[eid].status,
            hold_reason=decisions[eid].hold_reason,
            not_before=decisions[eid].not_before,
        )
        for eid, (cohort_id, day, zone) in due.items()
        if (eid, subjects[eid]) not in existing
    ]
    Notification.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    # Locked, so no sender claims a digest between here and the linking (SKIP LOCKED passes it by); one
    # already handed to a sender is left alone, and its learner's latecomers wait for the next digest.
    open_digests = {
        (eid, subject)
        for eid, subject in ours.filter(status__in=OPEN)
        .select_for_update()
        .values_list("enrollment_id", "subject")
        if subjects.get(eid) == subject
    }
    for subject in set(subjects.values()):
        learners_open = [eid for eid, s in open_digests if s == subject]
        own_digest = Notification.objects.filter(
            kind=Notification.Kind.DIGEST,
            channel=Channel.EMAIL,
            subject=subject,
            status__in=OPEN,
            enrollment_id=OuterRef("enrollment_id"),
        ).values("pk")[:1]
        _waiting().filter(enrollment_id__in=learners_open).update(digest=Subquery(own_digest))
    return len(new)


def _items(row: Notification, context: dict) -> dict:
    """A digest's context: what it lists, each held message's subject and time, oldest first."""
    if row.kind != Notification.Kind.DIGEST:
        return {}
    held = row.digested.select_related("enrollment__cohort").order_by("effective_at", "pk")
    return {
        "items": [
            {"subject": render.render(item).subject, "when": render.wall(item.effective_at, context["zone"])}
            for item in held
        ]
    }


render.extra_context.append(_items)
