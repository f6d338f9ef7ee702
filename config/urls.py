"""URL routes: the admin (also at /), health and readiness, the webhooks GitHub calls, unsubscribe links,
a learner's feed and its login."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
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
    path("feed/", include("notifications.urls")),
    # Learners log in here (the admin's login is for staff only).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="notifications/feed/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
]
