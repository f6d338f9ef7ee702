"""The schedules app's config: the Beat adapter, which owns its migrations (the clocked_time index)."""

from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    label = "schedules"
    verbose_name = "Nexus Beat schedules"
