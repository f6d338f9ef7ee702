"""The webhooks app's config: GitHub's signed deliveries in, processed by tasks."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "GitHub webhooks"
