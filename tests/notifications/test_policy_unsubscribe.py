"""One-click unsubscribe: an email received over SMTP carries RFC 8058 headers and a signed link; following
it (or the one-click POST alone) turns that kind off by email, so the next one is suppressed."""

import re
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client

from cohorts.models import Enrollment
from notifications import effects as notification_effects
from notifications.models import Channel, Notification, Preference
from notifications.services import outbox_sweep, outbox_write
from notifications.unsubscribe import make_token
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
Status = Notification.Status


def unlock(cohort, unit):
    notification_effects.notify(cohort, cohort.events.get(key=f"unlock:{unit}"))


def remind(cohort, subject):
    outbox_write(
        kind=Kind.REMINDER,
        cohort_id=cohort.pk,
        enrollment_ids=cohort.enrollments.values_list("pk", flat=True),
        subject=subject,
        effective_at=PINNED_NOW,
        payload={"title": "Project 0"},
    )


def header(message, name) -> str:
    """A header's value unfolded (a long List-Unsubscribe is folded onto a second line)."""
    return " ".join(message[name].split())


def parts(message) -> tuple[str, str]:
    text, html = message.get_payload()
    return text.get_payload(decode=True).decode(), html.get_payload(decode=True).decode()


@pytest.fixture
def received(make_cohort, smtp):
    """Week 0's unlock email, as ada's and bob's mailboxes received it over SMTP."""
    cohort = make_cohort()
    unlock(cohort, "week-0")
    assert outbox_sweep().sent == 2
    return cohort, smtp


def test_each_email_carries_one_click_unsubscribe_headers_and_the_link(received):
    _, smtp = received
    [ada] = smtp.to("ada@example.com")
    [bob] = smtp.to("bob@example.com")
    # then List-Unsubscribe holds one https-or-http URL in angle brackets, on the public base, and the
    # one-click header says a POST of List-Unsubscribe=One-Click does it (RFC 8058)
    link = header(ada, "List-Unsubscribe")
    assert re.fullmatch(r"<http://127\.0\.0\.1:8000/notifications/unsubscribe/[^>/]+/>", link)
    assert header(ada, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    # and each learner's link is their own
    assert header(bob, "List-Unsubscribe") != link
    # and the footer of both parts shows the same link
    text, html = parts(ada)
    assert f"Stop these emails: {link[1:-1]}" in text
    assert f'href="{link[1:-1]}"' in html


def test_following_the_link_turns_that_kind_off_and_only_that_kind(received, smtp):
    cohort, _ = received
    path = urlsplit(header(smtp.to("ada@example.com")[0], "List-Unsubscribe")[1:-1]).path
    client = Client(enforce_csrf_checks=True)
    # when ada opens the link, she sees what it will turn off, and nothing is changed yet
    page = client.get(path)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Unit unlocked" in body
    assert "ada@example.com" in body
    assert '<form method="post">' in body
    # (a link scanner's HEAD changes nothing either)
    assert client.head(path).status_code == 200
    assert not Preference.objects.exists()
    # when she presses the button (a plain POST, no CSRF cookie: the signed token is the credential)
    done = client.post(path)
    # then the page says it is off, and her preference for unit unlocks by email is off
    assert done.status_code == 200
    assert "You are unsubscribed" in done.content.decode()
    assert "Unit unlocked" in done.content.decode()
    ada = Enrollment.objects.get(email="ada@example.com")
    assert Preference.objects.get().enrollment == ada
    assert (Preference.objects.get().kind, Preference.objects.get().channel) == (
        Kind.UNIT_UNLOCKED,
        Channel.EMAIL,
    )
    assert Preference.objects.get().mode == Preference.Mode.OFF
    # when the next unlock and a reminder are written and sent
    smtp.messages.clear()
    unlock(cohort, "week-1")
    remind(cohort, "p0:1d")
    outbox_sweep()
    # then ada's unlock is suppressed, bob's unlock and both reminders are sent
    assert (
        Notification.objects.get(enrollment=ada, subject="week-1", channel=Channel.EMAIL).status
        == Status.SUPPRESSED
    )
    assert sorted((m["To"], m["Subject"]) for m in smtp.messages) == [
        ("ada@example.com", "Reminder: Project 0 is due Wed 02 Dec 13:00 WAT"),
        ("bob@example.com", "Reminder: Project 0 is due Wed 02 Dec 13:00 WAT"),
        ("bob@example.com", "Week 1 is unlocked"),
    ]
    # and pressing it again is harmless
    assert client.post(path).status_code == 200
    assert Preference.objects.count() == 1


def test_the_one_click_post_alone_unsubscribes(received, smtp):
    cohort, _ = received
    path = urlsplit(header(smtp.to("bob@example.com")[0], "List-Unsubscribe")[1:-1]).path
    # when a mailbox provider posts the RFC 8058 body to the link, with no cookie and no GET first
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    # then bob's unlock emails are off
    assert response.status_code == 200
    assert Preference.objects.get(enrollment__email="bob@example.com").mode == Preference.Mode.OFF
    unlock(cohort, "week-1")
    assert Notification.objects.get(
        enrollment__email="bob@example.com", subject="week-1", channel=Channel.EMAIL
    ).status == (Status.SUPPRESSED)
    assert Notification.objects.get(
        enrollment__email="ada@example.com", subject="week-1", channel=Channel.EMAIL
    ).status == (Status.PENDING)


@pytest.mark.usefixtures("received")
def test_a_tampered_or_stale_link_gets_a_400_with_the_reason(smtp, client):
    path = urlsplit(header(smtp.to("ada@example.com")[0], "List-Unsubscribe")[1:-1]).path
    token = path.rstrip("/").rpartition("/")[2]
    ada = Enrollment.objects.get(email="ada@example.com")
    bob = Enrollment.objects.get(email="bob@example.com")
    forged = token.replace(f"{ada.pk}.", f"{bob.pk}.", 1)  # someone else's learner id, ada's signature
    for bad in (forged, token[:-3], "nonsense", token + "x"):
        for method in (client.get, client.post):
            response = method(f"/notifications/unsubscribe/{bad}/")
            # then a clear page says why, and nothing changed
            assert response.status_code == 400, (bad, method)
            assert "changed or cut short" in response.content.decode()
    assert not Preference.objects.exists()
    # and a well-signed link for a kind we do not send, or a learner no longer enrolled, is refused too
    response = client.get(f"/notifications/unsubscribe/{make_token(enrollment_id=ada.pk, kind='spam')}/")
    assert response.status_code == 400
    assert "names no kind of message" in response.content.decode()
    stale = make_token(enrollment_id=10**9, kind=Kind.REMINDER)
    response = client.post(f"/notifications/unsubscribe/{stale}/")
    assert response.status_code == 400
    assert "no longer exists" in response.content.decode()
    assert not Preference.objects.exists()


def test_the_link_starts_with_the_public_url_setting(make_cohort, smtp, settings):
    settings.NEXUS_PUBLIC_URL = "https://nexus.example.org/"
    cohort = make_cohort(learners=("ada@example.com",))
    unlock(cohort, "week-0")
    outbox_sweep()
    [message] = smtp.messages
    assert header(message, "List-Unsubscribe").startswith(
        "<https://nexus.example.org/notifications/unsubscribe/"
    )


def test_the_link_in_a_received_email_works_over_http(make_cohort, smtp, live_server, settings):
    # given the site served on loopback, its address the public URL, and week 0's email received
    settings.NEXUS_PUBLIC_URL = live_server.url
    cohort = make_cohort()
    unlock(cohort, "week-0")
    outbox_sweep()
    link = header(smtp.to("ada@example.com")[0], "List-Unsubscribe")[1:-1]
    assert link.startswith(live_server.url)
    with requests.Session() as http:
        # when ada's mail client opens it: a page, and nothing changed
        page = http.get(link, timeout=10)
        assert page.status_code == 200
        assert "Turn off these emails" in page.text
        assert not Preference.objects.exists()
        # when her mailbox provider does the RFC 8058 one-click POST
        done = http.post(
            link,
            data="List-Unsubscribe=One-Click",
            timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200
        # and a tampered link is a 400 page, not a server error
        assert http.post(link.replace("unit_unlocked", "reminder"), timeout=10).status_code == 400
    assert Preference.objects.get().enrollment.email == "ada@example.com"
    unlock(cohort, "week-1")
    assert Notification.objects.get(
        enrollment__email="ada@example.com", subject="week-1", channel=Channel.EMAIL
    ).status == (Status.SUPPRESSED)
