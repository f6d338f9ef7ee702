"""WSGI entry point (gunicorn config.wsgi)."""

import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
application = get_wsgi_application()

from config.startup import log_backends  # imported after setup: it reads settings

log_backends(logging.getLogger("nexus.web"))
