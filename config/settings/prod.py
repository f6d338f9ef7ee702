"""Production: every secret and host comes from the environment; refuses to start without them."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import DATABASE_URL, NEXUS_GITHUB_WEBHOOK_SECRETS

_missing = [
    name
    for name, value in (
        ("DJANGO_SECRET_KEY", os.environ.get("DJANGO_SECRET_KEY", "")),
        ("DJANGO_ALLOWED_HOSTS", os.environ.get("DJANGO_ALLOWED_HOSTS", "")),
        ("DATABASE_URL", DATABASE_URL),
        ("REDIS_URL", os.environ.get("REDIS_URL", "")),
        # The receiver refuses every delivery without one (README "GitHub webhooks").
        ("GITHUB_WEBHOOK_SECRETS", os.environ.get("GITHUB_WEBHOOK_SECRETS", "")),
    )
    if not value
]
if _missing:
    raise ImproperlyConfigured(
        f"Production settings need {', '.join(_missing)} in the environment (see .env.example)."
    )
if len(os.environ["DJANGO_SECRET_KEY"]) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters long.")

# .env.example's values are placeholders ("change-me..."): a copied .env must not run production as is.
_placeholders = [
    name
    for name, value in (
        ("DJANGO_SECRET_KEY", os.environ["DJANGO_SECRET_KEY"]),
        ("GITHUB_WEBHOOK_SECRETS", os.environ["GITHUB_WEBHOOK_SECRETS"]),
        ("DATABASE_URL", DATABASE_URL),
        ("EMAIL_HOST_PASSWORD", os.environ.get("EMAIL_HOST_PASSWORD", "")),
        ("FLOWER_BASIC_AUTH", os.environ.get("FLOWER_BASIC_AUTH", "")),
    )
    if "change-me" in value.lower()
]
if _placeholders:
    raise ImproperlyConfigured(
        f"{', '.join(_placeholders)} still hold .env.example's placeholder (change-me...): set real secrets."
    )

# A default ("*") is not required: with secrets per organisation or repository only, a delivery about
# any other is refused (401, "no_secret"), as it should be. None at all would refuse every delivery.
if not NEXUS_GITHUB_WEBHOOK_SECRETS:
    raise ImproperlyConfigured(
        'GITHUB_WEBHOOK_SECRETS names no secret: a bare default secret, or {"scope": "secret", ...} in JSON.'
    )

# Absolute links in emails (one-click unsubscribe): the environment's, else the first real allowed host.
_hosts = [h for h in os.environ["DJANGO_ALLOWED_HOSTS"].split(",") if h and h[0] not in ".*"]
NEXUS_PUBLIC_URL = os.environ.get("NEXUS_PUBLIC_URL", "") or (f"https://{_hosts[0]}" if _hosts else "")
if not NEXUS_PUBLIC_URL:
    raise ImproperlyConfigured(
        "NEXUS_PUBLIC_URL is needed (the https:// address links in emails start with): "
        "DJANGO_ALLOWED_HOSTS names no single host to derive it from."
    )

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind TLS in production; set DJANGO_SECURE_COOKIES=false only to try the compose stack over plain HTTP.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
WHITENOISE_USE_FINDERS = False  # the image runs collectstatic at build time

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
