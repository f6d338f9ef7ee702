"""Calendar tasks: carry out one event (fired by its Beat entry) and the every-minute reconciler."""

from celery import shared_task
from django.db import OperationalError, transaction

from cohorts.effects import FireStatus, calendar_event_fire
from cohorts.reconcile import calendar_reconcile
from tasks.notifications import enqueue_delivery
from tasks.policy import IDEMPOTENT


def _deliver_after_commit() -> None:
    """The effect wrote outbox rows: once its transaction commits (invariant 4), enqueue their delivery
    in chunks on the notifications queue, which the workers take in parallel."""
    # robust: the effect has committed whatever happens here; if the broker is unreachable the
    # periodic sweep delivers the rows once its grace has passed.
    transaction.on_commit(enqueue_delivery, robust=True)


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
        _deliver_after_commit()
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
    done = sum(outcome.status == FireStatus.DONE for outcome in calendar_reconcile())
    if done:
        _deliver_after_commit()
    return done
