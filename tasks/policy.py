"""Delivery policy shared by task decorators."""

# For tasks whose effect is keyed in the database (invariant 1): acknowledge the message only once the
# task has run, and put it back if the worker process dies mid-task, so the effect is never lost.
IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}
