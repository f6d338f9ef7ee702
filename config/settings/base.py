"""Settings every environment shares; each value that differs comes from an environment variable."""

import os
from datetime import timedelta

import dj_database_url
from celery.schedules import crontab
from kombu import Exchange, Queue

from config import BASE_DIR, embedded
from webhooks.keys import parse_secrets


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


VAR_DIR = BASE_DIR / "var"
RUN_DIR = VAR_DIR / "run"

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "schedules",
    "core",
    "programs",
    "cohorts",
    "submissions",
    "notifications",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database: DATABASE_URL (PostgreSQL via psycopg 3), else a SQLite file under var/ -------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "nexus.sqlite3")),
            "OPTIONS": {
                # web, worker and Beat share the file: WAL lets readers run beside the one writer,
                # IMMEDIATE takes the write lock up front so a transaction never fails half way.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"  # learners (the feed); staff log in at /admin/
LOGIN_REDIRECT_URL = "feed"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # storage and Beat run in UTC; local times are computed per cohort / learner
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve the admin's static files straight from the apps, so neither make run nor the compose image
# needs a collectstatic step before the admin works.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Redis: REDIS_URL, else the embedded redis-server this checkout's `make run` started -----------
REDIS_URL = os.environ.get("REDIS_URL", "") or embedded.running_url(RUN_DIR)

# --- Celery (read by config/celery.py with namespace CELERY) ---------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = timedelta(hours=6)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90)
# Flower sees every task: the worker sends events, and the client sends task-sent.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_TASK_TRACK_STARTED = True
# Late acks (acknowledge once run, redeliver if the worker process dies) are declared per task, on the
# idempotent ones only (tasks/: IDEMPOTENT); a task with an outside effect must not run twice.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # Django owns logging
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker rides out a broker outage of any length (#10): it keeps reconnecting instead of exiting after
# Celery's default 100 attempts (about 45 minutes), so an outage never needs a human to restart workers.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task running when the broker connection drops runs to its end (its effect is keyed, invariant 1);
# said explicitly because Celery 6 changes the default to cancelling it. Its message, unacknowledged,
# comes back after the visibility timeout (or is gone with an emptied Redis: the reconciler repairs that).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Longer than any countdown we use; far-future work lives in the database and Beat (invariant 5).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# The queues, defined here once: the Celery queues below, the worker's -Q in `make run` (config/run.py),
# the tests' worker (tests/conftest.py) and docker-compose.yml (held to it by tests/config/test_compose.py).
# The first is the default queue. Which task runs on which queue is tasks/' policy (tasks/routing.py).
NEXUS_QUEUES = ("default", "calendar", "notifications", "github", "metrics")
CELERY_TASK_DEFAULT_QUEUE = NEXUS_QUEUES[0]
# Each queue has its own direct exchange and routing key; left unset, Celery binds every queue to
# the default key and a message routed to one queue would be copied into all of them.
CELERY_TASK_QUEUES = [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in NEXUS_QUEUES]
CELERY_TASK_DEFAULT_EXCHANGE = CELERY_TASK_DEFAULT_QUEUE
CELERY_TASK_DEFAULT_ROUTING_KEY = CELERY_TASK_DEFAULT_QUEUE
# A dotted path, resolved by Celery on the first send, so settings import nothing from tasks/. The router
# sees every send by task name (.delay(), apply_async(), send_task(), Beat's entries, whose queue is
# left unset); a queue a caller passes explicitly still wins.
CELERY_TASK_ROUTES = ("tasks.routing.route",)

CELERY_BEAT_SCHEDULER = "schedules.scheduler:NexusScheduler"
# Beat copies these into its database table at start, so staff see and edit them in the admin.
NEXUS_RECONCILE_EVERY = env_int("NEXUS_RECONCILE_EVERY", 60)
NEXUS_NOTIFY_SWEEP_EVERY = env_int("NEXUS_NOTIFY_SWEEP_EVERY", 30)
NEXUS_WEBHOOK_SWEEP_EVERY = env_int("NEXUS_WEBHOOK_SWEEP_EVERY", 60)
CELERY_BEAT_SCHEDULE = {
    "nexus:reconcile": {
        "task": "nexus.calendar.reconcile",
        "schedule": timedelta(seconds=NEXUS_RECONCILE_EVERY),
        # A run queued behind a slow one is redundant (the next finds the same work), so it expires.
        # (django-celery-beat reads "expire_seconds" here; it drops "expires".)
        # No queue here: tasks/routing.py routes it like any other send.
        "options": {"expire_seconds": max(NEXUS_RECONCILE_EVERY - 5, 1)},
    },
    # Delivers the outbox: rows pending past their not-before time and rows whose sender died mid-send.
    "nexus:notifications-sweep": {
        "task": "nexus.notifications.sweep",
        "schedule": timedelta(seconds=NEXUS_NOTIFY_SWEEP_EVERY),
        "options": {"expire_seconds": max(NEXUS_NOTIFY_SWEEP_EVERY - 5, 1)},
    },
    # Daily digests: every hour on the hour, for the learners whose local time is then 18:xx.
    "nexus:notifications-digest": {
        "task": "nexus.notifications.digest",
        "schedule": crontab(minute=0),
        "options": {"expire_seconds": 45 * 60},
    },
    # The safety net under the receiver's drain: stored deliveries not processed yet (a lost drain message,
    # Redis down when they arrived) and claims whose worker died.
    "nexus:github-deliveries": {
        "task": "nexus.github.drain_deliveries",
        "schedule": timedelta(seconds=NEXUS_WEBHOOK_SWEEP_EVERY),
        "options": {"expire_seconds": max(NEXUS_WEBHOOK_SWEEP_EVERY - 5, 1)},
    },
}
# On a re-sync (resume, edit), an event that fell due at most this long ago stays armed in Beat;
# older ones are left to the reconciler, which carries them out in due order.
NEXUS_REARM_WINDOW = env_int("NEXUS_REARM_WINDOW", 60)
# NexusScheduler: how often Beat looks for edits (s), and which clocked one-offs it keeps in memory:
# those due within the horizon, and overdue ones within the lookback (older: the reconciler's).
NEXUS_BEAT_POLL_INTERVAL = float(os.environ.get("NEXUS_BEAT_POLL_INTERVAL") or 0.25)
NEXUS_BEAT_HORIZON = float(os.environ.get("NEXUS_BEAT_HORIZON") or 120)
NEXUS_BEAT_LOOKBACK = float(os.environ.get("NEXUS_BEAT_LOOKBACK") or 300)
# One active Beat: a Redis lock with a token; the leader renews it each tick, a standby takes over
# once it expires.
NEXUS_BEAT_LOCK_KEY = "nexus:beat:lock"
NEXUS_BEAT_LOCK_TTL = env_int("NEXUS_BEAT_LOCK_TTL", 15)
DJANGO_CELERY_BEAT_TZ_AWARE = True
# Beat writes a heartbeat to Redis every tick; /healthz calls Beat down when it is older than this.
NEXUS_BEAT_HEARTBEAT_KEY = "nexus:beat:heartbeat"
NEXUS_BEAT_HEARTBEAT_MAX_AGE = env_int("NEXUS_BEAT_HEARTBEAT_MAX_AGE", 60)

# --- email: any SMTP server (prod sets the SMTP backend; dev and tests pick their own) -----------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)  # a hung SMTP server must not hold a sender forever
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "nexus@localhost")
# The right-hand side of every notification's Message-ID (stable per notification: a resend keeps it).
NEXUS_EMAIL_DOMAIN = (
    os.environ.get("NEXUS_EMAIL_DOMAIN") or DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
)
# The outbox sender: rows per claim (and per SMTP connection), how long a claim lasts, and how often a
# transient error is retried (backoff doubles from NEXUS_NOTIFY_RETRY_BASE seconds) before the row fails.
NEXUS_NOTIFY_BATCH = env_int("NEXUS_NOTIFY_BATCH", 200)
NEXUS_NOTIFY_LEASE = env_int("NEXUS_NOTIFY_LEASE", 300)
NEXUS_NOTIFY_RETRY_BASE = env_int("NEXUS_NOTIFY_RETRY_BASE", 60)
NEXUS_NOTIFY_RETRY_JITTER = float(os.environ.get("NEXUS_NOTIFY_RETRY_JITTER", "") or 0.25)
NEXUS_NOTIFY_MAX_ATTEMPTS = env_int("NEXUS_NOTIFY_MAX_ATTEMPTS", 8)
# The periodic sweep leaves rows younger than this (s) to the delivery their effect enqueued after
# commit (chunks on the notifications queue), so it never competes with the fast path.
NEXUS_NOTIFY_SWEEP_GRACE = env_int("NEXUS_NOTIFY_SWEEP_GRACE", 15)
# A "date changed" message waits this many seconds; a later edit for the same learner and subject within
# it replaces it, so a burst of staff edits yields one message with the final dates.
NEXUS_NOTIFY_DATE_CHANGE_DELAY = env_int("NEXUS_NOTIFY_DATE_CHANGE_DELAY", 300)
# Delivery policy (notifications/policy.py): at most this many emails per learner per hour (the rest wait
# for the digest), and the learner's local hour the daily digest goes out at.
NEXUS_NOTIFY_HOURLY_CAP = env_int("NEXUS_NOTIFY_HOURLY_CAP", 10)
NEXUS_DIGEST_LOCAL_HOUR = env_int("NEXUS_DIGEST_LOCAL_HOUR", 18)
# A digest run that did not happen at that hour (Beat down, workers behind) is caught up this many hours
# later at most, for the rows that were waiting at the hour.
NEXUS_DIGEST_CATCH_UP_HOURS = env_int("NEXUS_DIGEST_CATCH_UP_HOURS", 3)
# The site's public address: absolute links in emails (the one-click unsubscribe URL) start with it.
NEXUS_PUBLIC_URL = os.environ.get("NEXUS_PUBLIC_URL", "") or "http://127.0.0.1:8000"
# Days the sign-in link in each email (it opens the learner's feed; their accounts have no password) works.
NEXUS_FEED_LINK_DAYS = env_int("NEXUS_FEED_LINK_DAYS", 30)

# --- outbound HTTP (chat webhooks, GitHub): core.http.check_public_url ---------------------------------
# Production: https only, and never an address inside our network. dev.py and test.py relax both so
# loopback servers (a fake GitHub, a local chat sink) can be reached; a test can turn them back on.
NEXUS_HTTP_REQUIRE_HTTPS = env_bool("NEXUS_HTTP_REQUIRE_HTTPS", True)
NEXUS_HTTP_ALLOW_PRIVATE = env_bool("NEXUS_HTTP_ALLOW_PRIVATE", False)

# --- GitHub's REST API (webhooks/client.py): polling CI, redelivering failed hooks, learner repositories ---
# The token (a fine-grained or GitHub App installation token) comes from the environment only; without it
# the polling, redelivery and provisioning tasks do nothing and say so. GITHUB_API_URL: GitHub Enterprise
# is https://<host>/api/v3.
GITHUB_TOKEN = os.environ.get("GITHUB_TOKEN", "")
GITHUB_API_URL = os.environ.get("GITHUB_API_URL", "") or "https://api.github.com"
# The hook whose failed deliveries are redelivered: its id, and its owner, an organisation ("acme") or a
# repository ("acme/capstone"). Either unset: redelivery is off.
GITHUB_HOOK_ID = env_int("GITHUB_HOOK_ID", 0)
GITHUB_HOOK_OWNER = os.environ.get("GITHUB_HOOK_OWNER", "")
# Requests in flight at once per process, timeouts (s), and the calls of the hourly budget left unused:
# at or below this many, the client stops until GitHub's reset time.
NEXUS_GITHUB_CONCURRENCY = env_int("NEXUS_GITHUB_CONCURRENCY", 4)
NEXUS_GITHUB_CONNECT_TIMEOUT = float(os.environ.get("NEXUS_GITHUB_CONNECT_TIMEOUT") or 3.05)
NEXUS_GITHUB_READ_TIMEOUT = float(os.environ.get("NEXUS_GITHUB_READ_TIMEOUT") or 10)
NEXUS_GITHUB_RATE_FLOOR = env_int("NEXUS_GITHUB_RATE_FLOOR", 50)
NEXUS_GITHUB_ETAG_TTL = env_int("NEXUS_GITHUB_ETAG_TTL", 86400)  # s an ETag and its body are kept
# The CI sweep (every NEXUS_GITHUB_POLL_EVERY s while windows are open, and after each cut-off) polls
# commits whose CI is not final; a graded commit is polled for this long (s) after its cut-off.
NEXUS_GITHUB_POLL_EVERY = env_int("NEXUS_GITHUB_POLL_EVERY", 300)
NEXUS_GITHUB_POLL_AFTER_CUTOFF = env_int("NEXUS_GITHUB_POLL_AFTER_CUTOFF", 86400)
NEXUS_GITHUB_REDELIVER_EVERY = env_int("NEXUS_GITHUB_REDELIVER_EVERY", 600)
# Learner repositories waiting to be created (new, rate-limited, or retried by staff) are picked up this
# often (s); a transient failure is tried this many times before the row shows as failed.
NEXUS_GITHUB_PROVISION_EVERY = env_int("NEXUS_GITHUB_PROVISION_EVERY", 300)
NEXUS_GITHUB_PROVISION_ATTEMPTS = env_int("NEXUS_GITHUB_PROVISION_ATTEMPTS", 5)
CELERY_BEAT_SCHEDULE.update(
    {
        "nexus:github-poll": {
            "task": "nexus.github.poll_ci",
            "schedule": timedelta(seconds=NEXUS_GITHUB_POLL_EVERY),
            "options": {"expire_seconds": max(NEXUS_GITHUB_POLL_EVERY - 5, 1)},
        },
        "nexus:github-redeliver": {
            "task": "nexus.github.redeliver",
            "schedule": timedelta(seconds=NEXUS_GITHUB_REDELIVER_EVERY),
            "options": {"expire_seconds": max(NEXUS_GITHUB_REDELIVER_EVERY - 5, 1)},
        },
        "nexus:github-provision": {
            "task": "nexus.github.provision",
            "schedule": timedelta(seconds=NEXUS_GITHUB_PROVISION_EVERY),
            "options": {"expire_seconds": max(NEXUS_GITHUB_PROVISION_EVERY - 5, 1)},
        },
    }
)

# --- GitHub webhooks in (webhooks/, README "GitHub webhooks") ------------------------------------------
# GITHUB_WEBHOOK_SECRETS: a JSON object scope -> secret, or scope -> [new, old] during a rotation; scopes
# are "*" (the default), "owner" (an organisation) or "owner/name" (a repository), the most specific wins.
# A bare string (not JSON) is the one default secret. prod.py refuses to start without any.
NEXUS_GITHUB_WEBHOOK_SECRETS = parse_secrets(os.environ.get("GITHUB_WEBHOOK_SECRETS", ""))
# Larger bodies get 413 before they are read (GitHub caps payloads at 25 MB; ours are far smaller).
NEXUS_WEBHOOK_MAX_BYTES = env_int("NEXUS_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024)
# Deliveries a drain task processes per claim, and how long a claim lasts before the sweep takes it back.
NEXUS_WEBHOOK_DRAIN_BATCH = env_int("NEXUS_WEBHOOK_DRAIN_BATCH", 100)
NEXUS_WEBHOOK_LEASE = env_int("NEXUS_WEBHOOK_LEASE", 300)
# benchmarks/webhook_ingest.py only: also serve the straightforward receiver (ORM insert, one Celery
# publish per delivery) at /webhooks/github/baseline/ to compare against.
NEXUS_WEBHOOK_BASELINE = env_bool("NEXUS_WEBHOOK_BASELINE", False)

# --- logging: Django owns it; every process logs to stderr --------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(processName)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
        "nexus": {"level": LOG_LEVEL},
    },
}
