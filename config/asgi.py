"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

# A server started without DJANGO_SETTINGS_MODULE gets production settings (which refuse to start
# without their secrets), never DEBUG with a known key. make run sets the dev settings itself.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")
application = get_asgi_application()
