"""URL routes: the admin, health."""

from django.contrib import admin
from django.urls import path

from config import health

admin.site.site_header = "Nexus administration"
admin.site.site_title = "Nexus"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]
