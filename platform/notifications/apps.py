"""The notifications app's config: registers what calendar events tell learners."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import (
            digests,  # noqa: F401 - adds a digest's list of held messages to its context
            effects,  # noqa: F401 - registers the notification effects
            receivers,  # noqa: F401 - connects to the cohorts' signals
            signin,  # noqa: F401 - adds the sign-in link to the learner's feed to each email
            unsubscribe,  # noqa: F401 - adds the unsubscribe link to each email's context
        )
