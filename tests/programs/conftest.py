"""Fixtures shared with the calendar tests: a small program and its cohorts."""

from tests.cohorts.conftest import make_cohort, small_program  # noqa: F401 - fixtures
