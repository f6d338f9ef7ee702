"""URL routes: the admin (also at /), health and readiness, the webhooks GitHub calls, unsubscribe links."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import health

admin.site.site_header = "Nexus administration"
admin.site.site_title = "Nexus"

urlpatterns = [
    # Staff open the site's root: send them to the admin rather than a 404.
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("webhooks/", include("webhooks.urls")),
    path("notifications/", include("notifications.unsubscribe_urls")),
]
