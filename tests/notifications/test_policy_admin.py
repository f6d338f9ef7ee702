"""Staff edit a learner's preferences and quiet hours in the admin; quiet hours that start and end at the
same time are refused on the field."""

from datetime import time

import pytest

from notifications.models import Notification, Preference, QuietHours
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db

PREFS = "/admin/notifications/preference/"
QUIET = "/admin/notifications/quiethours/"


def test_staff_set_a_learners_preference(admin_client, make_cohort):
    ada = make_cohort().enrollments.get(email="ada@example.com")
    # when staff add "reminders by email: in the digest" for ada
    response = admin_client.post(
        f"{PREFS}add/",
        {"enrollment": ada.pk, "kind": Notification.Kind.REMINDER, "channel": "email", "mode": "digest"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Preference.objects.get().mode == Preference.Mode.DIGEST
    # and the list shows it with the learner and cohort
    page = admin_client.get(PREFS).content.decode()
    assert "ada@example.com" in page
    assert "In the daily digest" in page
    # when they change it to off on its page
    pref = Preference.objects.get()
    response = admin_client.post(f"{PREFS}{pref.pk}/change/", {"mode": "off"})
    assert response.status_code == 302
    assert Preference.objects.get().mode == Preference.Mode.OFF


def test_quiet_hours_that_start_when_they_end_are_refused_on_the_field(admin_client, make_cohort):
    ada = make_cohort().enrollments.get(email="ada@example.com")
    # when staff give ada quiet hours 22:00-22:00
    response = admin_client.post(f"{QUIET}add/", {"enrollment": ada.pk, "start": "22:00", "end": "22:00"})
    # then the form comes back with the reason on "end", and nothing is saved
    assert response.status_code == 200
    assert "must end at another time than they start" in str(response.context["adminform"].form.errors["end"])
    assert not QuietHours.objects.exists()
    # when they give 23:00-06:30 for reminders and due dates
    response = admin_client.post(
        f"{QUIET}add/",
        {"enrollment": ada.pk, "start": "23:00", "end": "06:30", "kinds": ["reminder", "due_passed"]},
    )
    assert response.status_code == 302
    quiet = QuietHours.objects.get()
    assert (quiet.start, quiet.end, quiet.kinds) == (time(23), time(6, 30), ["reminder", "due_passed"])
    # and the list shows the hours in the learner's zone
    page = admin_client.get(QUIET).content.decode()
    assert "23:00-06:30" in page
    assert "Africa/Lagos" in page
    assert "Reminder, Due passed" in page


def test_a_held_row_shows_why_and_the_digest_it_went_out_in(admin_client, make_cohort):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    common = {"cohort": cohort, "enrollment": ada, "effective_at": PINNED_NOW}
    digest = Notification.objects.create(kind=Notification.Kind.DIGEST, subject="digest:2026-12-01", **common)
    held = Notification.objects.create(
        kind=Notification.Kind.REMINDER,
        subject="p0:1d",
        status=Notification.Status.HELD,
        hold_reason=Notification.HoldReason.CAP,
        digest=digest,
        **common,
    )
    page = admin_client.get(f"/admin/notifications/notification/{held.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Hourly cap" in body
    assert "digest digest:2026-12-01 -&gt; ada@example.com (email)" in body
