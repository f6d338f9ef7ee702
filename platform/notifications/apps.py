"""The notifications app's config: registers what calendar events tell learners."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import (
            effects,  # noqa: F401 - registers the notification effects
            receivers,  # noqa: F401 - connects to the cohorts' signals
        )
