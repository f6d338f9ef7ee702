"""Dates that staff change reach learners: one debounced "date changed" per learner and subject, and an
immediate "extension granted"."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from cohorts.changes import DateChange
from cohorts.models import Cohort, Extension
from core import clock
from notifications.models import Notification
from notifications.render import DATE_LABELS, DATE_ORDER
from notifications.services import outbox_write

Kind = Notification.Kind
Status = Notification.Status
# Rows not yet handed to a sender: a later change rewrites them instead of adding a message.
WAITING = (Status.PENDING, Status.HELD)
NO_NET_CHANGE = "no net change: the dates are back to what the learner was last told"


def _titles(cohort: Cohort) -> dict[str, str]:
    program = cohort.program
    titles = dict(program.units.values_list("key", "title"))
    titles.update(program.projects.values_list("key", "title"))
    return titles


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@transaction.atomic
def date_changes_notify(
    *, cohort: Cohort, changes: dict[int, list[DateChange]], now: datetime | None = None
) -> int:
    """Tell each learner whose dates moved, about NEXUS_NOTIFY_DATE_CHANGE_DELAY seconds from now.

    Per learner and unit/project there is at most one waiting message: a change while one waits rewrites
    it (its dates, and its not-before moved to the new delay) rather than adding another, so a burst of
    edits yields one message. It keeps the "old" date the learner was last told; a change that moves a
    date back to that is no news, and a message left with nothing to say is suppressed. The message
    renders the calendar as it is when sent. Returns the number of new rows.
    """
    now = now or clock.now()
    not_before = now + timedelta(seconds=settings.NEXUS_NOTIFY_DATE_CHANGE_DELAY)
    titles = _titles(cohort)
    by_subject: dict[str, dict[int, dict[str, DateChange]]] = {}
    for eid, items in changes.items():
        for change in items:
            by_subject.setdefault(change.subject, {}).setdefault(eid, {})[change.kind] = change
    written = 0
    for subject, learners in sorted(by_subject.items()):
        waiting: dict[int, list[Notification]] = {}
        for ids in _chunks(sorted(learners)):
            rows = Notification.objects.select_for_update().filter(
                kind=Kind.DATE_CHANGED,
                cohort=cohort,
                subject=subject,
                enrollment_id__in=ids,
                status__in=WAITING,
            )
            for row in rows.order_by("pk"):
                waiting.setdefault(row.enrollment_id, []).append(row)
        rewritten: list[Notification] = []
        new: dict[str, list[int]] = {}
        for eid, kinds in sorted(learners.items()):
            merged: dict[str, dict] = {}
            for row in waiting.get(eid, []):
                for entry in (row.payload or {}).get("changes") or []:
                    merged.setdefault(entry.get("kind", ""), dict(entry))
            for kind, change in kinds.items():
                told = merged.get(kind, {}).get("old") or change.old.isoformat()
                merged[kind] = {
                    "kind": kind,
                    "what": DATE_LABELS.get(kind, kind),
                    "old": told,
                    "new": change.new.isoformat(),
                }
            net = [
                merged[kind]
                for kind in sorted(merged, key=lambda k: DATE_ORDER.index(k) if k in DATE_ORDER else 99)
                if _at(merged[kind]["old"]) != _at(merged[kind]["new"])
            ]
            payload = {"cohort": cohort.name, "title": titles.get(subject, subject), "changes": net}
            for row in waiting.get(eid, []):
                if not net:
                    row.status, row.last_error = Status.SUPPRESSED, NO_NET_CHANGE
                else:
                    row.payload = payload
                    if row.status == Status.PENDING:  # a held row keeps its hold (quiet hours, digest)
                        row.not_before = not_before
                rewritten.append(row)
            if net and not waiting.get(eid):
                new.setdefault(json.dumps(payload, sort_keys=True), []).append(eid)
        Notification.objects.bulk_update(
            rewritten, ["payload", "not_before", "status", "last_error"], batch_size=500
        )
        for text, eids in new.items():
            written += outbox_write(
                kind=Kind.DATE_CHANGED,
                cohort_id=cohort.pk,
                enrollment_ids=eids,
                subject=subject,
                effective_at=now,
                payload=json.loads(text),
                not_before=not_before,
            )
    return written


def extension_granted_notify(
    *, cohort: Cohort, extension: Extension, enrollment_ids: list[int], now: datetime | None = None
) -> int:
    """Tell the learner (or each learner of the group) their new due and cut-off, now."""
    project = extension.project
    return outbox_write(
        kind=Kind.EXTENSION_GRANTED,
        cohort_id=cohort.pk,
        enrollment_ids=enrollment_ids,
        subject=project.key,
        effective_at=now or clock.now(),
        payload={
            "cohort": cohort.name,
            "title": project.title,
            "due": extension.due_at.isoformat(),
            "cutoff": extension.cutoff_at.isoformat(),
        },
    )
