"""pytest: the real database (SQLite file or DATABASE_URL) and a real Redis, one per test session."""

import os

from config import embedded

from .base import *
from .base import DATABASES, RUN_DIR

SECRET_KEY = "test-only-key"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# The end-to-end tests start real worker and Beat processes that must see the test database, so
# SQLite's test database is a file (never :memory:), one per test session.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(RUN_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# One Redis per test session. The session's own processes (worker, Beat) inherit REDIS_URL from
# the environment and so share it instead of starting their own.
if not os.environ.get("REDIS_URL"):
    _redis = embedded.start(RUN_DIR / f"test-redis-{os.getpid()}", scratch=True)
    import atexit

    atexit.register(_redis.stop)
    os.environ["REDIS_URL"] = _redis.url
REDIS_URL = os.environ["REDIS_URL"]
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
