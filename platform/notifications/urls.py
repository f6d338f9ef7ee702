"""The learner's feed: /feed/, /feed/read and /feed/preferences/."""

from django.urls import path

from notifications import views

urlpatterns = [
    path("", views.feed, name="feed"),
    path("read", views.mark_read, name="feed-read"),
    path("preferences/", views.preferences, name="feed-preferences"),
    path("signin/<str:token>/", views.signin, name="feed-signin"),
]
