"""The Celery app: configured from Django settings (namespace CELERY), tasks autodiscovered."""

import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("nexus")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Tasks live in the top-level tasks/ package (entry points), not inside the domain apps.
app.autodiscover_tasks(["tasks"], related_name=None, force=False)
# The webhooks app's own tasks: its processing lives there, and tasks/ and webhooks/ (both entry points)
# never import each other.
app.autodiscover_tasks(["webhooks"], related_name="tasks", force=False)

logger = logging.getLogger("nexus.celery")


@signals.setup_logging.connect
def _django_owns_logging(**_: object) -> None:
    # Connecting this signal stops Celery from configuring logging; Django's LOGGING applies.
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def _require_broker(sender: object = None, **_: object) -> None:
    from django.conf import settings

    if not settings.REDIS_URL:
        # SystemExit, not an exception: Celery logs and swallows exceptions raised by signal handlers,
        # and would then try a default AMQP broker on localhost.
        raise SystemExit(
            "No broker: set REDIS_URL=redis://HOST:6379/0, or start Nexus with `make run`, "
            "which starts an embedded redis-server for all its processes."
        )
    from config.startup import log_backends

    log_backends(logger)


signals.worker_init.connect(_require_broker, weak=False)
signals.beat_init.connect(_require_broker, weak=False)
