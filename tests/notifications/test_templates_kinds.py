"""Every notification kind renders a subject, a plain-text and an HTML part (email) and a short form (in-app,
chat), with times in the learner's zone, the zone named, and a rehearsal cohort's messages marked."""

from datetime import UTC, datetime

import pytest

from cohorts.services import cohort_event_move, enrollment_create
from notifications.models import Channel, Notification
from notifications.render import render

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
AT = datetime(2027, 1, 8, 16, 0, tzinfo=UTC)  # Fri 17:00 in Lagos, 21:30 in Kolkata
SHA = "3f2c9a1b7e4d5c6a8b9f0e1d2c3b4a5968778695"
PAYLOADS = {
    Kind.UNIT_UNLOCKED: ("week-0", {"title": "Week 0"}),
    Kind.WINDOW_OPENED: ("p0", {"title": "Project 0"}),
    Kind.REMINDER: ("p0:1d", {"title": "Project 0"}),
    Kind.DUE_PASSED: ("p0", {"title": "Project 0"}),
    Kind.WINDOW_CLOSED: ("p0", {"title": "Project 0"}),
    Kind.EXTENSION_GRANTED: (
        "p0",
        {"title": "Project 0", "due": "2027-01-12T16:00:00+00:00", "cutoff": "2027-01-14T08:00:00+00:00"},
    ),
    Kind.DATE_CHANGED: (
        "p0",
        {
            "title": "Project 0",
            "changes": [
                {
                    "kind": "due",
                    "what": "Due",
                    "old": "2027-01-07T16:00:00+00:00",
                    "new": "2027-01-08T16:00:00+00:00",
                }
            ],
        },
    ),
    Kind.CI_FAILED: (
        "p0",
        {
            "title": "Project 0",
            "repository": "acme/p0-ada",
            "sha": SHA,
            "url": f"https://github.com/acme/p0-ada/commit/{SHA}",
            "status": "failure",
        },
    ),
    Kind.CI_PASSED: (
        "p0",
        {
            "title": "Project 0",
            "repository": "acme/p0-ada",
            "sha": SHA,
            "url": f"https://github.com/acme/p0-ada/commit/{SHA}",
            "status": "success",
        },
    ),
    Kind.REPOSITORY_READY: (
        "p0",
        {"title": "Project 0", "repository": "acme/p0-ada", "url": "https://github.com/acme/p0-ada"},
    ),
}
# What each kind's text must say beyond its title (in the Kolkata learner's zone).
SAYS = {
    Kind.UNIT_UNLOCKED: ["Fri 08 Jan 2027 21:30 IST (Asia/Kolkata)"],
    Kind.WINDOW_OPENED: ["Fri 08 Jan 2027 21:30 IST (Asia/Kolkata)"],
    Kind.REMINDER: ["due at Sat 09 Jan 2027 21:30 IST (Asia/Kolkata)", "in 1 day"],
    Kind.DUE_PASSED: ["Fri 08 Jan 2027 21:30 IST (Asia/Kolkata)"],
    Kind.WINDOW_CLOSED: ["Fri 08 Jan 2027 21:30 IST (Asia/Kolkata)"],
    Kind.EXTENSION_GRANTED: [
        "Tue 12 Jan 2027 21:30 IST (Asia/Kolkata)",
        "Thu 14 Jan 2027 13:30 IST (Asia/Kolkata)",
    ],
    Kind.DATE_CHANGED: ["Fri 08 Jan 2027 21:30 IST (Asia/Kolkata)", "was Thu 07 Jan 2027 21:30 IST"],
    Kind.CI_FAILED: ["3f2c9a1", "acme/p0-ada", f"https://github.com/acme/p0-ada/commit/{SHA}"],
    Kind.CI_PASSED: ["3f2c9a1", "acme/p0-ada", f"https://github.com/acme/p0-ada/commit/{SHA}"],
    Kind.REPOSITORY_READY: ["acme/p0-ada", "https://github.com/acme/p0-ada"],
}
SUBJECTS = {
    Kind.UNIT_UNLOCKED: "Week 0 is unlocked",
    Kind.WINDOW_OPENED: "Project 0: submissions are open",
    Kind.REMINDER: "Reminder: Project 0 is due Sat 09 Jan 21:30 IST",
    Kind.DUE_PASSED: "Project 0 was due Fri 08 Jan 21:30 IST",
    Kind.WINDOW_CLOSED: "Project 0: submissions are closed",
    Kind.EXTENSION_GRANTED: "Project 0: your extension, due Tue 12 Jan 21:30 IST",
    Kind.DATE_CHANGED: "Project 0: dates changed",
    Kind.CI_FAILED: "Project 0: CI failed on 3f2c9a1",
    Kind.CI_PASSED: "Project 0: CI passed on 3f2c9a1",
    Kind.REPOSITORY_READY: "Project 0: your repository acme/p0-ada is ready",
}
KINDS = [kind for kind in Kind if kind != Kind.DIGEST]  # the digest is its own part's


def row_for(cohort, kind, channel=Channel.EMAIL, email="kim@example.com", zone="Asia/Kolkata"):
    enrollment = cohort.enrollments.filter(email=email).first() or enrollment_create(
        cohort=cohort, email=email, timezone=zone
    )
    subject, payload = PAYLOADS[kind]
    return Notification.objects.create(
        kind=kind,
        cohort=cohort,
        enrollment=enrollment,
        subject=subject,
        effective_at=AT,
        channel=channel,
        payload=payload,
    )


def test_every_kind_has_its_templates_listed_here():
    assert set(PAYLOADS) == set(SAYS) == set(SUBJECTS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_an_email_of_each_kind_names_the_learners_zone(make_cohort, kind):
    # given a learner in Kolkata in a Lagos cohort (not a rehearsal)
    cohort = make_cohort(learners=())
    row = row_for(cohort, kind)

    # when it is rendered for email
    shown = render(row)

    # then subject, text and HTML say what happened, times in her zone, and nothing about a rehearsal
    assert shown.subject == SUBJECTS[kind]
    for text in SAYS[kind]:
        assert text in shown.text, text
        assert text.replace("&", "&amp;") in shown.html, text
    assert "Project 0" in shown.text or "Week 0" in shown.text
    assert "Times are in Asia/Kolkata" in shown.text
    assert shown.html.startswith("<html>")
    assert "rehearsal" not in (shown.subject + shown.text + shown.html).lower()


@pytest.mark.parametrize("kind", KINDS)
def test_a_rehearsal_cohorts_messages_say_so_on_every_channel(make_cohort, kind):
    # given a rehearsal cohort (60x) and a learner with no zone of her own (the cohort's: Lagos)
    cohort = make_cohort(learners=(), speed=60)
    email = row_for(cohort, kind, email="ada@example.com", zone="")
    inapp = row_for(cohort, kind, channel=Channel.INAPP, email="ada@example.com")

    # when both are rendered
    mail, short = render(email), render(inapp)

    # then both are marked as a rehearsal, and name the cohort's zone
    assert mail.subject.startswith("[Rehearsal] ")
    assert "THIS IS A REHEARSAL" in mail.text
    assert "This is a rehearsal" in mail.html
    assert "Africa/Lagos" in mail.text
    assert short.text.startswith("[Rehearsal] ")
    assert "\n" not in short.text.strip()
    if kind not in (Kind.CI_FAILED, Kind.CI_PASSED, Kind.REPOSITORY_READY):
        assert "(Africa/Lagos)" in short.text
    assert short.html.startswith("<p>")


def test_a_date_change_shows_the_dates_as_they_are_when_it_is_sent(make_cohort):
    # given a date_changed row written when the due moved from Thu to Fri; since then staff moved it to Sun
    cohort = make_cohort(learners=())
    row = row_for(cohort, Kind.DATE_CHANGED)
    due = cohort.events.get(key="due:p0")
    cohort_event_move(event=due, at=datetime(2027, 1, 10, 16, 0, tzinfo=UTC))

    # when it is rendered
    shown = render(row)

    # then it shows the final date (Sunday), still saying what it was before
    assert "Due: Sun 10 Jan 2027 21:30 IST (Asia/Kolkata) (was Thu 07 Jan 2027 21:30 IST" in shown.text


def test_a_learners_unknown_zone_stored_by_hand_falls_back_to_the_cohorts(make_cohort):
    # given a zone written around the validation (straight into the table)
    cohort = make_cohort(learners=())
    row = row_for(cohort, Kind.WINDOW_OPENED)
    type(row.enrollment).objects.filter(pk=row.enrollment_id).update(timezone="Mars/Olympus")
    row.refresh_from_db()

    # then the message still renders, in the cohort's zone
    assert "Fri 08 Jan 2027 17:00 WAT (Africa/Lagos)" in render(row).text
