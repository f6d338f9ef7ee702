"""Fixtures for GitHub tests: the fake GitHub REST API on loopback."""

from tests.webhooks.fakegithub import fake_github  # noqa: F401 - fixture
