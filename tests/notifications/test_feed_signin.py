"""The sign-in link in every email: learners' accounts have no password, so the link opens their feed."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from notifications import effects as notification_effects
from notifications.services import outbox_sweep
from notifications.signin import make_token
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db


def feed_link(message) -> str:
    text = message.get_payload()[0].get_payload(decode=True).decode()
    [link] = re.findall(r"Your messages: (\S+)", text)
    return link


@pytest.fixture
def emailed(make_cohort, smtp):
    """Week 0's unlock, as ada's and bob's mailboxes received it over SMTP."""
    cohort = make_cohort()
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    assert outbox_sweep().sent == 2
    return cohort, smtp


def test_the_link_in_an_email_signs_the_learner_in_and_opens_only_their_feed(emailed):
    cohort, smtp = emailed
    [ada_mail] = smtp.to("ada@example.com")
    link = feed_link(ada_mail)
    # the link is absolute, on the public base, and both parts of the email carry it
    assert link.startswith("http://127.0.0.1:8000/feed/signin/")
    assert f'href="{link}"' in ada_mail.get_payload()[1].get_payload(decode=True).decode()
    # when ada follows it in a browser with no session
    browser = Client()
    response = browser.get(urlsplit(link).path)
    # then she lands on her feed, signed in, and sees her message and none of bob's
    assert response.status_code == 302
    assert response["Location"] == "/feed/"
    page = browser.get("/feed/").content.decode()
    assert "Week 0 is unlocked" in page
    assert "1 unread" in page
    ada = cohort.enrollments.get(email="ada@example.com")
    assert int(browser.session["_auth_user_id"]) == ada.user_id
    # and bob's link is his own
    assert feed_link(smtp.to("bob@example.com")[0]) != link


def test_a_tampered_expired_or_staff_link_is_a_400_with_the_reason_and_signs_no_one_in(make_cohort):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    token = make_token(user_id=ada.user_id)
    browser = Client()

    response = browser.get(f"/feed/signin/{token[:-2]}xx/")
    assert response.status_code == 400
    assert "was changed or cut short" in response.content.decode()

    with time_machine.travel(PINNED_NOW + timedelta(days=31), tick=False):
        response = browser.get(f"/feed/signin/{token}/")
    assert response.status_code == 400
    assert "has expired (links last 30 days)" in response.content.decode()

    get_user_model().objects.filter(pk=ada.user_id).update(is_staff=True)
    response = browser.get(f"/feed/signin/{token}/")
    assert response.status_code == 400
    assert "Staff accounts sign in with their password" in response.content.decode()

    assert "_auth_user_id" not in browser.session
    assert browser.get("/feed/").status_code == 302  # still sent to log in


def test_a_link_still_works_a_day_before_it_expires(make_cohort):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    token = make_token(user_id=ada.user_id)
    with time_machine.travel(PINNED_NOW + timedelta(days=29), tick=False):
        assert Client().get(f"/feed/signin/{token}/")["Location"] == "/feed/"
