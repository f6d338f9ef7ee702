"""Fixtures shared with the calendar tests (a small program and its cohorts) and the fake GitHub."""

from tests.cohorts.conftest import _pin_the_clock, make_cohort, small_program  # noqa: F401 - fixtures
from tests.webhooks.fakegithub import fake_github  # noqa: F401 - fixture
