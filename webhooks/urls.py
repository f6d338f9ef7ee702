"""The webhooks app's routes (mounted at /webhooks/)."""

from django.conf import settings
from django.urls import path

from webhooks import views

app_name = "webhooks"
urlpatterns = [path("github/", views.github, name="github")]
if settings.NEXUS_WEBHOOK_BASELINE:
    urlpatterns.append(path("github/baseline/", views.github_baseline, name="github-baseline"))
