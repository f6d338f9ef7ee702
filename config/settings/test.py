"""pytest: the real database (SQLite file or DATABASE_URL) and a real Redis, one per test session."""

import os

from .base import *
from .base import DATABASES, RUN_DIR

SECRET_KEY = "test-only-key"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
# locmem, unless the end-to-end tests point their worker at an SMTP sink on loopback.
EMAIL_BACKEND = os.environ.get("NEXUS_TEST_EMAIL_BACKEND") or "django.core.mail.backends.locmem.EmailBackend"

# The end-to-end tests start real worker and Beat processes that must see the test database, so
# SQLite's test database is a file (never :memory:), one per test session.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(RUN_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# REDIS_URL from the environment only (never the Redis a `make run` of this checkout started: the
# tests flush it). When unset, the test session starts its own Redis and fills these in; see the
# session_redis fixture in tests/conftest.py. Importing these settings starts nothing.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# Loopback HTTP servers (a fake GitHub, a local chat sink) are reachable here, never in production.
NEXUS_HTTP_REQUIRE_HTTPS = env_bool("NEXUS_HTTP_REQUIRE_HTTPS", False)
NEXUS_HTTP_ALLOW_PRIVATE = env_bool("NEXUS_HTTP_ALLOW_PRIVATE", True)

# The receiver's secrets in tests: a default, an organisation in rotation (two at once) and one repository.
NEXUS_GITHUB_WEBHOOK_SECRETS = {
    "*": ("test-default-secret",),
    "rotating-org": ("rotating-new", "rotating-old"),
    "octo-org/special": ("special-secret",),
}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
