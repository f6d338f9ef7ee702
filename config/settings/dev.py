"""Local development and `make run`: DEBUG on, a throwaway secret, loopback hosts."""

import os

from .base import *
from .base import NEXUS_GITHUB_WEBHOOK_SECRETS

DEBUG = env_bool("DJANGO_DEBUG", True)
# Only ever used on a developer's machine; prod.py refuses to start without a real one.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "dev-only-insecure-key-not-for-production"
ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]"]
# make run: every email the worker sends is written to var/mail/ (one file per SMTP-like batch, each message
# complete with its headers, plain-text and HTML parts), where a human can read it without flooding the
# worker's log; EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend prints them there instead.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
# Loopback HTTP servers (a fake GitHub, a local chat sink) are reachable here, never in production.
NEXUS_HTTP_REQUIRE_HTTPS = env_bool("NEXUS_HTTP_REQUIRE_HTTPS", False)
NEXUS_HTTP_ALLOW_PRIVATE = env_bool("NEXUS_HTTP_ALLOW_PRIVATE", True)
# A webhook secret a developer's fake GitHub (or `curl`) can sign with, unless GITHUB_WEBHOOK_SECRETS is set.
NEXUS_GITHUB_WEBHOOK_SECRETS = NEXUS_GITHUB_WEBHOOK_SECRETS or {"*": ("dev-only-webhook-secret",)}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
