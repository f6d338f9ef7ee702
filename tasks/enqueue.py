"""Queue follow-up work from the admin: with the broker down the rows wait for their sweep, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

logger = logging.getLogger("nexus.tasks")


def enqueue_or_leave_to_sweep(task: Task, *args: Any, on_refused: Callable[[], None] | None = None) -> bool:
    """Publish `task` once the transaction commits; when the broker cannot be reached, log it, call
    `on_refused` (to tell staff), and leave the work to its periodic sweep.

    Only for work a periodic sweep also finds (the row is already in the state the sweep looks for), so
    a refused publish only delays it. Outside a transaction (an admin action) the publish happens now and
    the result is returned; inside one (the admin's add and change pages run in one) it happens at commit,
    True is returned, and `on_refused` is how a refusal is told.
    """

    def publish() -> bool:
        try:
            task.delay(*args)
        except BrokerUnavailable as exc:
            logger.warning("broker unreachable: %s left to its periodic sweep (%s)", task.name, exc)
            if on_refused is not None:
                on_refused()
            return False
        return True

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(publish)
        return True
    return publish()
