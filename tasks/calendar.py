"""Calendar tasks: carry out one event (fired by its Beat entry) and the every-minute reconciler."""

from celery import shared_task
from django.db import OperationalError, transaction

from cohorts.effects import FireStatus, calendar_event_fire
from cohorts.keys import EventKey
from cohorts.models import CohortEvent
from cohorts.reconcile import calendar_reconcile
from tasks.github_api import poll_ci, provision
from tasks.notifications import enqueue_delivery
from tasks.policy import IDEMPOTENT

Kind = CohortEvent.Kind


def _deliver_after_commit(kinds: set[str] | None = None) -> None:
    """The effect wrote outbox rows: once its transaction commits (invariant 4), enqueue their delivery
    in chunks on the notifications queue, which the workers take in parallel.

    A window that opened may have planned learners' repositories (created on GitHub by `provision`);
    a cut-off chose graded commits, whose CI is polled once at once if not final (`poll_ci`).
    """
    # robust: the effect has committed whatever happens here; if the broker is unreachable the
    # periodic sweep delivers the rows once its grace has passed.
    transaction.on_commit(enqueue_delivery, robust=True)
    if kinds is None or Kind.OPEN in kinds:
        provision.delay_on_commit()
    if kinds is None or Kind.CLOSE in kinds:
        poll_ci.delay_on_commit()


@shared_task(
    name="nexus.calendar.fire_event",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),  # a locked or briefly unreachable database
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def fire_event(cohort_id: int, event: str) -> str:
    """Carry out one calendar event; safe to run twice."""
    status = calendar_event_fire(cohort_id=cohort_id, key=event).status
    if status == FireStatus.DONE:
        _deliver_after_commit({EventKey.parse(event).kind})
    return status


@shared_task(
    name="nexus.calendar.reconcile",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
)
def reconcile() -> int:
    """Carry out every event that is due but not done (Beat was down, a message was lost)."""
    done = [o for o in calendar_reconcile() if o.status == FireStatus.DONE]
    if done:
        _deliver_after_commit({EventKey.parse(o.key).kind for o in done})
    return len(done)
