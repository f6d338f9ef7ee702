"""The receiver's tasks on the github queue: drain waiting deliveries, or process one by id."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from tasks.github_api import ci_tell
from webhooks.models import Delivery
from webhooks.receiver import DRAIN_FLAG, redis_call
from webhooks.services import delivery_claim, delivery_drain, delivery_process

DRAIN_BUDGET = 60.0  # s of claiming per drain task (its soft time limit is 240 s)

IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}  # as tasks.policy; effects keyed per delivery


@shared_task(
    name="nexus.github.drain_deliveries",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=240,
    time_limit=300,
)
def drain_deliveries() -> dict:
    """Process every delivery waiting (the receiver queues one per burst; Beat runs it as the sweep)."""
    # Before looking for work: a delivery stored after this line queues a drain of its own.
    # Best effort: with Redis failing, the rows are still drained (the flag then expires on its own).
    redis_call("the drain flag", lambda r: r.delete(DRAIN_FLAG))
    counts, more = delivery_drain(batch=settings.NEXUS_WEBHOOK_DRAIN_BATCH, budget=DRAIN_BUDGET)
    if counts.get(Delivery.State.DONE) and (told := ci_tell()):
        # A check that just finished may settle a graded commit's CI: tell its learner now, not at the
        # next CI poll (minutes away). Cheap when nothing is untold: one query.
        counts["told"] = told
    if more:
        # Still busy after the budget: hand over to a fresh task, well inside the time limits.
        drain_deliveries.apply_async()
    return counts


@shared_task(
    name="nexus.github.process_delivery",
    **IDEMPOTENT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def process_delivery(delivery_id: int) -> str:
    """Process this one delivery (the baseline receiver, the admin's "process again")."""
    if delivery_claim(limit=1, ids=[delivery_id]):
        return delivery_process(delivery_id=delivery_id)
    return "not waiting"
