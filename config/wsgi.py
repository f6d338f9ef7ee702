"""WSGI entry point (gunicorn config.wsgi)."""

import logging
import os

from django.core.wsgi import get_wsgi_application

# A server started without DJANGO_SETTINGS_MODULE gets production settings (which refuse to start
# without their secrets), never DEBUG with a known key. make run sets the dev settings itself.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")
application = get_wsgi_application()

from config.startup import log_backends  # imported after setup: it reads settings

log_backends(logging.getLogger("nexus.web"))
