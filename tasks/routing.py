"""Queue policy: the one router (settings' CELERY_TASK_ROUTES names it) that puts each task on its queue."""

from __future__ import annotations

from typing import Any

from django.conf import settings

# Task names are namespaced by queue: nexus.<queue>.<action> runs on <queue> when <queue> is one of the
# declared queues (settings.NEXUS_QUEUES); any other task (nexus.ops.*, a stray name) runs on "default".
PREFIX = "nexus."


def queue_for(name: str) -> str:
    """The queue a task of this name runs on."""
    if name.startswith(PREFIX):
        namespace = name[len(PREFIX) :].partition(".")[0]
        if namespace in settings.NEXUS_QUEUES:
            return namespace
    return settings.CELERY_TASK_DEFAULT_QUEUE


def route(name: str, args: Any, kwargs: Any, options: dict, task: Any = None, **_: Any) -> dict[str, str]:
    """Celery router: called for every send (.delay(), apply_async(), send_task(), Beat) by task name.

    A queue the caller passes explicitly still wins (Celery merges the caller's options over this route).
    """
    return {"queue": queue_for(name)}
