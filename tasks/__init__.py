"""Celery tasks: thin entry points (ids in, one service call); they own retry, queue and time limits."""

from tasks import calendar, notifications, ops  # noqa: F401 - registers the tasks with the app
