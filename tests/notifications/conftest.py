"""Fixtures shared with the calendar tests: a small program and its cohorts."""

import pytest

from tests.cohorts.conftest import _pin_the_clock, make_cohort, small_program  # noqa: F401 - fixtures
from tests.notifications.smtp import start_sink


@pytest.fixture
def smtp(settings):
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    controller, sink = start_sink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = controller.hostname
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    yield sink
    controller.stop()
