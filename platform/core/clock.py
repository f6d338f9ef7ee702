"""The one clock: every domain read of the current instant goes through now() (tests pin it)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, aware, in UTC.

    One function so that tests (time-machine) and a rehearsal of the whole suite years ahead (faketime)
    move every reader at once, as django-celery-beat's utils.now() does for Beat.
    """
    return datetime.now(tz=UTC)
