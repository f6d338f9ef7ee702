"""The learner's feed: /feed/ and /feed/read."""

from django.urls import path

from notifications import views

urlpatterns = [
    path("", views.feed, name="feed"),
    path("read", views.mark_read, name="feed-read"),
    path("signin/<str:token>/", views.signin, name="feed-signin"),
]
