"""Nexus wiring; the one place that puts platform/ (the domain apps) on sys.path."""

import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PLATFORM_DIR = BASE_DIR / "platform"

# platform/ is a plain folder, never a package: a package named "platform" would shadow the
# stdlib module that uuid (and so Django, Celery, pytest) imports. Every entry point (manage.py,
# celery -A config, gunicorn config.wsgi, pytest's settings) imports this package first.
# Appended, not prepended, so nothing in it can shadow the stdlib or an installed package.
if str(PLATFORM_DIR) not in sys.path:
    sys.path.append(str(PLATFORM_DIR))

from .celery import app as celery_app

__all__ = ("BASE_DIR", "PLATFORM_DIR", "celery_app")
