"""Which learner-facing dates a calendar change moved: a before/after snapshot of a cohort's events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from cohorts.keys import EventKey, EventKeyError
from cohorts.models import Cohort, CohortEvent, Enrollment

Kind = CohortEvent.Kind
# The dates a learner plans around; reminders follow the due and are not news of their own.
WATCHED = (Kind.UNLOCK, Kind.OPEN, Kind.DUE, Kind.CLOSE)


@dataclass(frozen=True)
class DateChange:
    """One date of one unit or project that moved for a learner (UTC instants)."""

    kind: str
    subject: str
    old: datetime
    new: datetime


@dataclass(frozen=True)
class Snapshot:
    """A cohort's watched event instants (by key) and its learners, before a change."""

    cohort_id: int
    program_id: int
    at: dict[str, datetime]
    learners: frozenset[int]


def dates_snapshot(cohort: Cohort) -> Snapshot:
    events = CohortEvent.objects.filter(cohort_id=cohort.pk, program_id=cohort.program_id, kind__in=WATCHED)
    return Snapshot(
        cohort_id=cohort.pk,
        program_id=cohort.program_id,
        at={
            key: override or scheduled
            for key, override, scheduled in events.values_list("key", "override_at", "scheduled_at")
        },
        learners=frozenset(Enrollment.objects.filter(cohort_id=cohort.pk).values_list("pk", flat=True)),
    )


def _split(at: dict[str, datetime]) -> tuple[dict[tuple, datetime], dict[tuple, datetime]]:
    """(kind, subject) -> the cohort's instant; (enrollment, kind, subject) -> a learner's own instant."""
    shared, own = {}, {}
    for text, when in at.items():
        try:
            key = EventKey.parse(text)
        except EventKeyError:
            continue
        if key.enrollment_id is None:
            shared[(key.kind, key.subject)] = when
        else:
            own[(key.enrollment_id, key.kind, key.subject)] = when
    return shared, own


def dates_diff(before: Snapshot, cohort: Cohort) -> dict[int, list[DateChange]]:
    """For each learner enrolled at the snapshot, the watched dates whose instant differs now.

    A learner's date is their own event's (an extension) if they have one, else the cohort's. A cohort
    that changed program compares nothing (its dates are a new calendar, not moved ones).
    """
    if before.program_id != cohort.program_id:
        return {}
    after = dates_snapshot(cohort)
    if after.at == before.at:
        return {}
    old_shared, old_own = _split(before.at)
    new_shared, new_own = _split(after.at)
    changes: dict[int, list[DateChange]] = {}
    own_keys = set(old_own) | set(new_own)
    with_own = {(kind, subject): set() for _, kind, subject in own_keys}
    for eid, kind, subject in own_keys:
        with_own[(kind, subject)].add(eid)
    for (kind, subject), old in old_shared.items():
        new = new_shared.get((kind, subject))
        if new is None or new == old:
            continue
        for eid in sorted(before.learners - with_own.get((kind, subject), set())):
            changes.setdefault(eid, []).append(DateChange(kind, subject, old, new))
    for eid, kind, subject in sorted(own_keys):
        if eid not in before.learners:
            continue
        old = old_own.get((eid, kind, subject)) or old_shared.get((kind, subject))
        new = new_own.get((eid, kind, subject)) or new_shared.get((kind, subject))
        if old is not None and new is not None and old != new:
            changes.setdefault(eid, []).append(DateChange(kind, subject, old, new))
    return changes


def learner_dates(*, enrollment: Enrollment, subject: str) -> dict[str, datetime]:
    """A learner's current watched dates of one unit or project (kind -> instant): their own event's
    where they have one (an extension), else the cohort's."""
    cohort = enrollment.cohort
    dates: dict[str, datetime] = {}
    events = CohortEvent.objects.filter(
        Q(enrollment_id__isnull=True) | Q(enrollment_id=enrollment.pk),
        cohort_id=cohort.pk,
        program_id=cohort.program_id,
        subject=subject,
        kind__in=WATCHED,
    )
    # The learner's own events come last, so they win over the cohort's.
    for event in sorted(events, key=lambda e: e.enrollment_id is not None):
        dates[event.kind] = event.at
    return dates
