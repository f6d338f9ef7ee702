"""The submissions app's config: registers what calendar events do for submissions."""

from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "submissions"
    verbose_name = "Submissions"

    def ready(self) -> None:
        from submissions import effects  # noqa: F401 - registers the window effects
