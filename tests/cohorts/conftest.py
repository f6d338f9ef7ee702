"""Fixtures for calendar tests: the pinned clock, and a small program loaded through the real loader."""

from datetime import date

import pytest

from cohorts.services import cohort_create, enrollment_create
from programs.services import program_load

SMALL_PROGRAM = {
    "slug": "small",
    "name": "Small program",
    "anchors": ["demo_day"],
    "defaults": {"reminders": ["1d", "1h"]},
    "units": [
        {
            "key": "week-0",
            "title": "Week 0",
            "unlock": "week 0 mon 09:00",
            "projects": [
                {
                    "key": "p0",
                    "title": "Project 0",
                    "opens": "week 0 mon 09:00",
                    "due": "week 0 fri 17:00",
                    "cutoff": "week 1 mon 09:00",
                    "grace": "2h",
                }
            ],
        },
        {"key": "week-1", "title": "Week 1", "unlock": "week 1 mon 09:00"},
        {
            "key": "capstone",
            "title": "Capstone",
            "unlock": "week 2 mon 09:00",
            "projects": [
                {
                    "key": "demo",
                    "title": "Demo",
                    "opens": "week 2 mon 09:00",
                    "due": "demo_day: day -1 18:00",
                    "cutoff": "demo_day: day 0 09:00",
                }
            ],
        },
    ],
}


@pytest.fixture(autouse=True)
def _pin_the_clock(pinned_now):
    """Every calendar test runs at tests.conftest.PINNED_NOW (2026-12-01 12:00 UTC), before its 2027 dates.

    Their calendars (a cohort starting 2027-01-04 in Lagos, one starting 2027-03-08 in New York) keep
    exact UTC instants and real DST transitions to assert on; the services read "now" to decide which
    events are past, so without this the tests would fail once the machine's clock passes those dates.
    """
    return pinned_now


@pytest.fixture
def small_program(db):
    return program_load(data=SMALL_PROGRAM, source="small.yaml").program


@pytest.fixture
def make_cohort(small_program):
    def make(
        name="Lagos",
        start=date(2027, 1, 4),
        timezone="Africa/Lagos",
        demo_day="2027-01-29",
        learners=("ada@example.com", "bob@example.com"),
        **kwargs,
    ):
        cohort = cohort_create(
            program=kwargs.pop("program", small_program),
            name=name,
            start_date=start,
            timezone=timezone,
            anchors={"demo_day": demo_day},
            **kwargs,
        )
        for email in learners:
            enrollment_create(cohort=cohort, email=email)
        return cohort

    return make
