"""The one-click unsubscribe URL (no login: the token is signed); mounted at /notifications/."""

from django.urls import path

from notifications import unsubscribe_views

app_name = "notifications"
urlpatterns = [
    path("unsubscribe/<str:token>/", unsubscribe_views.unsubscribe, name="unsubscribe"),
]
