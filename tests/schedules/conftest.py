"""Fixtures for the Beat adapter's tests."""

from __future__ import annotations

import pytest

from schedules.scheduler import NexusScheduler


@pytest.fixture
def beat(app, redis_client):
    """An in-process NexusScheduler on the test database and Redis; the test drives its ticks."""
    schedulers = []

    def make(**attrs: float) -> NexusScheduler:
        scheduler = NexusScheduler(app=app)
        for name, value in attrs.items():
            setattr(scheduler, name, value)
        schedulers.append(scheduler)
        return scheduler

    yield make
    for scheduler in schedulers:
        scheduler.close()
