"""Queue follow-up work from an admin action: with the broker down the rows wait for their sweep, never a 500."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError as BrokerUnavailable

logger = logging.getLogger("nexus.tasks")


def enqueue_or_leave_to_sweep(task: Task, *args: Any) -> bool:
    """Publish `task` once the transaction commits; False (logged) when the broker cannot be reached.

    Only for work a periodic sweep also finds (the row is already in the state the sweep looks for), so
    a refused publish only delays it. The admin runs without ATOMIC_REQUESTS, so the publish happens here
    and its error can be told to staff.
    """
    try:
        task.delay_on_commit(*args)
    except BrokerUnavailable as exc:
        logger.warning("broker unreachable: %s left to its periodic sweep (%s)", task.name, exc)
        return False
    return True
