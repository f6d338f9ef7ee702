"""A learner's in-app feed at /feed/: only their own rows, newest first, unread counted; marking read is a
POST with CSRF; anonymous visitors are sent to log in."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from notifications import effects as notification_effects
from notifications.models import Notification
from notifications.selectors import feed_unread_count
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db


def fire(cohort, *keys):
    for i, key in enumerate(keys):  # a minute apart, so "newest first" has an order to show
        with time_machine.travel(PINNED_NOW + timedelta(minutes=i), tick=False):
            notification_effects.notify(cohort, cohort.events.get(key=key))


def client_for(cohort, email, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(cohort.enrollments.get(email=email).user)
    return client


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/feed/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/feed/"
    assert client.get("/accounts/login/?next=/feed/").status_code == 200
    assert client.post("/feed/read").status_code == 302


def test_a_learner_sees_only_their_own_feed_newest_first_in_their_zone(make_cohort):
    # given two unlocks and a window opening for ada and bob
    cohort = make_cohort()
    fire(cohort, "unlock:week-0", "unlock:week-1", "open:p0")

    # when ada opens her feed
    page = client_for(cohort, "ada@example.com").get("/feed/").content.decode()

    # then she sees her three, newest first, all unread, with times in her zone; nothing of bob's
    assert "3 unread" in page
    first, second, third = (
        page.index(s) for s in ("Project 0: submissions are open", "Week 1 is unlocked", "Week 0 is unlocked")
    )
    assert first < second < third
    assert "bob@example.com" not in page
    assert "Tue 01 Dec 2026 13:02 WAT (Africa/Lagos)" in page


def test_marking_one_read_and_then_all(make_cohort):
    cohort = make_cohort()
    fire(cohort, "unlock:week-0", "unlock:week-1")
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    week_0 = Notification.objects.get(enrollment=ada, channel="inapp", subject="week-0")

    response = client.post("/feed/read", {"id": week_0.pk})
    assert (response.status_code, response["Location"]) == (302, "/feed/")
    week_0.refresh_from_db()
    assert week_0.read_at == PINNED_NOW
    assert feed_unread_count(user_id=ada.user_id) == 1
    assert "1 unread" in client.get("/feed/").content.decode()

    client.post("/feed/read")
    assert feed_unread_count(user_id=ada.user_id) == 0
    # and bob's stay unread
    assert feed_unread_count(user_id=cohort.enrollments.get(email="bob@example.com").user_id) == 2


def test_a_learner_cannot_mark_anothers_row(make_cohort):
    cohort = make_cohort()
    fire(cohort, "unlock:week-0")
    bobs = Notification.objects.get(enrollment__email="bob@example.com", channel="inapp")
    client = client_for(cohort, "ada@example.com")
    # when ada posts bob's row's id
    response = client.post("/feed/read", {"id": bobs.pk})
    # then it is not found for her, and bob's row is untouched
    assert response.status_code == 404
    bobs.refresh_from_db()
    assert bobs.read_at is None
    # and "mark all" marks only her own
    client.post("/feed/read")
    bobs.refresh_from_db()
    assert bobs.read_at is None


def test_bad_input_and_a_missing_csrf_token_are_refused(make_cohort):
    cohort = make_cohort()
    fire(cohort, "unlock:week-0")
    client = client_for(cohort, "ada@example.com")
    response = client.post("/feed/read", {"id": "seven"})
    assert (response.status_code, response.content) == (400, b"id: not a notification number.")
    assert client.get("/feed/read").status_code == 405
    strict = client_for(cohort, "ada@example.com", enforce_csrf_checks=True)
    assert strict.post("/feed/read").status_code == 403
    assert feed_unread_count(user_id=cohort.enrollments.get(email="ada@example.com").user_id) == 1


def test_staff_filter_the_outbox_admin_by_the_in_app_channel(make_cohort, admin_client):
    cohort = make_cohort()
    fire(cohort, "unlock:week-0")
    response = admin_client.get("/admin/notifications/notification/", {"channel__exact": "inapp"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2


def test_older_messages_are_a_page_away(make_cohort):
    # given 120 messages in ada's feed, a minute apart
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    Notification.objects.bulk_create(
        Notification(
            kind=Notification.Kind.UNIT_UNLOCKED,
            cohort=cohort,
            enrollment=ada,
            subject=f"message-{n:03d}",
            effective_at=PINNED_NOW,
            channel="inapp",
            status=Notification.Status.SENT,
            payload={"title": f"Message {n:03d}"},
        )
        for n in range(120)
    )
    for n, row in enumerate(Notification.objects.filter(enrollment=ada).order_by("subject")):
        Notification.objects.filter(pk=row.pk).update(created_at=PINNED_NOW + timedelta(minutes=n))
    client = client_for(cohort, "ada@example.com")

    def titles(response):
        return [entry.subject for entry in response.context["entries"]]

    # when she opens her feed, she sees the newest 50 and a link to older ones
    first = client.get("/feed/")
    assert titles(first)[0] == "Message 119 is unlocked"
    assert len(titles(first)) == 50
    assert 'href="?page=2" rel="next">Older' in first.content.decode()
    assert "Page 1 of 3" in first.content.decode()
    # and the last page has the oldest 20, with a link back
    last = client.get("/feed/", {"page": 3})
    assert titles(last)[-1] == "Message 000 is unlocked"
    assert len(titles(last)) == 20
    assert 'href="?page=2" rel="prev">' in last.content.decode()
    # and a page that does not exist shows the nearest one, never an error
    assert titles(client.get("/feed/", {"page": 99})) == titles(last)
    assert titles(client.get("/feed/", {"page": "seven"})) == titles(first)
    # and the unread count is of all of them
    assert "120 unread" in first.content.decode()
