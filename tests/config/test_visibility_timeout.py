"""The broker's visibility timeout against the tasks' time limits (invariant 5; README, "Visibility timeout").

With Redis, a message a worker took but has not acknowledged (acks_late: until the task has run) goes back
to the queue once the visibility timeout has passed, and another worker runs it again. So no task may stay
unacknowledged that long: not while running (its hard time limit), not while reserved behind a running task
(one more hard time limit, at worst), not while a retry's countdown (an ETA the worker holds unacknowledged)
runs down.
"""

import pytest
from celery.app.task import Task
from django.conf import settings

from config import celery_app

# "Well below": a task reserved behind the longest one, then running as long itself, is still acknowledged
# before the timeout.
MARGIN = 2


def visibility_timeout() -> int:
    return settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]


def nexus_tasks() -> dict[str, Task]:
    celery_app.loader.import_default_modules()
    tasks = {name: task for name, task in celery_app.tasks.items() if name.startswith("nexus.")}
    assert tasks, "no nexus.* task registered; has tasks/ moved?"
    return tasks


def hard_limit(task: Task) -> int:
    return task.time_limit or settings.CELERY_TASK_TIME_LIMIT


def test_the_visibility_timeout_is_set_deliberately_on_broker_and_results():
    # given the transport options (kombu's default would be 1 h, silently)
    assert "visibility_timeout" in settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert settings.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS.get("visibility_timeout") == visibility_timeout()


@pytest.mark.parametrize("name", sorted(nexus_tasks()))
def test_every_task_is_acknowledged_well_before_the_visibility_timeout(name):
    # given a task and the limits it runs under (its own, else the settings' defaults)
    task = nexus_tasks()[name]
    limit = hard_limit(task)
    # then it has a hard limit, and a soft one below it (the task can clean up before it is killed)
    assert limit, f"{name} has no hard time limit: it could hold its message past any visibility timeout"
    soft = task.soft_time_limit or settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert soft < limit, f"{name}: soft limit {soft} s is not below its hard limit {limit} s"
    # and even waiting behind the longest task, then running as long as its limit, it is acknowledged
    # well before Redis would hand its message to another worker
    longest = max(hard_limit(other) for other in nexus_tasks().values())
    assert MARGIN * max(limit, longest) < visibility_timeout(), (
        f"{name}: time_limit {limit} s (longest task {longest} s) is not well below the visibility "
        f"timeout {visibility_timeout()} s; raise the timeout or shorten the task (README)"
    )


@pytest.mark.parametrize(
    "name", sorted(name for name, task in nexus_tasks().items() if getattr(task, "autoretry_for", ()))
)
def test_no_retry_countdown_reaches_the_visibility_timeout(name):
    # given a task that retries by itself (its countdowns are ETAs the worker holds unacknowledged)
    task = nexus_tasks()[name]
    # then its longest backoff plus its run still ends before the visibility timeout
    # (Celery's autoretry caps an exponential backoff at retry_backoff_max, 600 s unless the task says.)
    if getattr(task, "retry_backoff", False):
        longest_countdown = getattr(task, "retry_backoff_max", 600)
    else:
        longest_countdown = task.default_retry_delay
    assert longest_countdown + hard_limit(task) < visibility_timeout(), (
        f"{name}: a retry {longest_countdown} s out, then {hard_limit(task)} s of run, would pass the "
        f"visibility timeout {visibility_timeout()} s and be redelivered while waiting"
    )
