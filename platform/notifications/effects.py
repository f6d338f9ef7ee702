"""What calendar events tell learners: one outbox row per learner per effect."""

from __future__ import annotations

from cohorts.effects import register
from cohorts.keys import EventKey
from cohorts.models import Cohort, CohortEvent
from cohorts.selectors import event_learners
from notifications.models import Notification
from notifications.services import outbox_write
from submissions.selectors import submitted_learners

Kind = CohortEvent.Kind
# Which notification each calendar event writes, and whether it is only for learners who have not
# submitted yet (a reminder or "due passed" to someone who handed in would be noise).
_KINDS = {
    Kind.UNLOCK: (Notification.Kind.UNIT_UNLOCKED, False),
    Kind.OPEN: (Notification.Kind.WINDOW_OPENED, False),
    Kind.REMIND: (Notification.Kind.REMINDER, True),
    Kind.DUE: (Notification.Kind.DUE_PASSED, True),
    Kind.CLOSE: (Notification.Kind.WINDOW_CLOSED, False),
}


@register(*_KINDS)
def notify(cohort: Cohort, event: CohortEvent) -> None:
    kind, only_unsubmitted = _KINDS[event.kind]
    # Everyone hears that a window opens; later window events go to those on the cohort's dates (a
    # learner with an extension hears from their own events).
    ids = event_learners(
        cohort=cohort, event=event, per_learner_windows=event.kind not in (Kind.UNLOCK, Kind.OPEN)
    )
    if event.kind == Kind.UNLOCK:
        title = cohort.program.units.get(key=event.subject).title
    else:
        project = cohort.program.projects.get(key=event.subject)
        title = project.title
        if only_unsubmitted:
            done = submitted_learners(project=project, enrollment_ids=ids)
            ids = [i for i in ids if i not in done]
    outbox_write(
        kind=kind,
        cohort_id=cohort.pk,
        enrollment_ids=ids,
        subject=EventKey.parse(event.key).topic,
        effective_at=event.at,
        payload={"cohort": cohort.name, "title": title},
    )
