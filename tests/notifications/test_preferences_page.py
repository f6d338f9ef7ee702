"""A learner's own settings at /feed/preferences/: per kind and channel (immediately, digest, off), the daily
digest, and quiet hours in their zone; the next messages written follow them. Only their own enrollments;
bad input is a form error that saves nothing."""

from datetime import time

import pytest
from django.test import Client

from notifications.models import Channel, Notification, Preference, QuietHours
from notifications.services import outbox_write
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
Status = Notification.Status
Mode = Preference.Mode


def client_for(cohort, email) -> Client:
    client = Client()
    client.force_login(cohort.enrollments.get(email=email).user)
    return client


def page_data(client, enrollment) -> dict:
    """The form as the page shows it (every field with its current value), ready to change and post."""
    forms = client.get("/feed/preferences/").context["forms"]
    form = next(item["form"] for item in forms if item["enrollment"] == enrollment)
    data = {"enrollment": str(enrollment.pk)}
    for name in form.fields:
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(value, list):
            data[key] = value
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, time):
            data[key] = value.strftime("%H:%M")
        else:
            data[key] = value
    return data


def write(cohort, kind, subject="week-0"):
    outbox_write(
        kind=kind,
        cohort_id=cohort.pk,
        enrollment_ids=list(cohort.enrollments.values_list("pk", flat=True)),
        subject=subject,
        effective_at=PINNED_NOW,
        payload={"title": subject.title()},
    )
    return {
        (row.enrollment.email, row.channel): row
        for row in Notification.objects.filter(kind=kind, subject=subject).select_related("enrollment")
    }


def test_the_page_shows_the_defaults_in_the_learners_zone_and_the_feed_links_to_it(make_cohort):
    cohort = make_cohort()
    client = client_for(cohort, "ada@example.com")
    assert 'href="/feed/preferences/"' in client.get("/feed/").content.decode()

    response = client.get("/feed/preferences/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Quiet hours, in your time zone (Africa/Lagos)" in page
    form = response.context["forms"][0]["form"]
    # everything immediately on email and in-app; no chat column without a webhook of their own
    assert form.channels == [Channel.EMAIL, Channel.INAPP]
    assert form["reminder__email"].value() == Mode.IMMEDIATELY
    assert form["digest"].value() == Mode.IMMEDIATELY
    # quiet hours 22:00-07:00 for reminders only
    assert (form["quiet_start"].value(), form["quiet_end"].value()) == (time(22), time(7))
    assert form["quiet_kinds"].value() == [Kind.REMINDER]
    assert form["quiet_on"].value() is True


def test_saved_choices_decide_the_next_messages(make_cohort, pinned_now):
    # given ada on her settings page
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    data = page_data(client, ada)

    # when she takes unlocks by digest, turns "window opened" off by email and in the feed, and holds every
    # unlock during quiet hours 12:00-14:00 (it is 13:00 in Lagos)
    p = f"e{ada.pk}-"
    data[p + "unit_unlocked__email"] = Mode.DIGEST
    data[p + "window_opened__email"] = Mode.OFF
    data[p + "window_opened__inapp"] = Mode.OFF
    data[p + "quiet_start"], data[p + "quiet_end"] = "12:00", "14:00"
    data[p + "quiet_kinds"] = [Kind.REMINDER, Kind.DUE_PASSED]
    response = client.post("/feed/preferences/", data, follow=True)

    # then the page says what was saved
    assert "Saved: 4 settings changed for Lagos" in response.content.decode()
    assert dict(
        Preference.objects.filter(enrollment=ada).values_list("kind", "mode").filter(channel="email")
    ) == {
        Kind.UNIT_UNLOCKED: Mode.DIGEST,
        Kind.WINDOW_OPENED: Mode.OFF,
    }
    quiet = QuietHours.objects.get(enrollment=ada)
    assert (quiet.start, quiet.end, quiet.kinds, quiet.enabled) == (
        time(12),
        time(14),
        [Kind.REMINDER, Kind.DUE_PASSED],
        True,
    )
    # and the next messages follow them, for ada only
    unlock = write(cohort, Kind.UNIT_UNLOCKED)
    assert (unlock["ada@example.com", "email"].status, unlock["ada@example.com", "email"].hold_reason) == (
        Status.HELD,
        Notification.HoldReason.DIGEST,
    )
    assert unlock["bob@example.com", "email"].status == Status.PENDING
    opened = write(cohort, Kind.WINDOW_OPENED, subject="p0")
    assert opened["ada@example.com", "email"].status == Status.SUPPRESSED
    assert ("ada@example.com", "inapp") not in opened  # off in the feed: no entry at all
    assert opened["bob@example.com", "inapp"].status == Status.SENT
    reminder = write(cohort, Kind.REMINDER, subject="p0-1d")
    assert reminder["ada@example.com", "email"].hold_reason == Notification.HoldReason.QUIET_HOURS

    # when she turns quiet hours off, the next reminder goes at once
    data = page_data(client, ada)
    data.pop(p + "quiet_on")
    client.post("/feed/preferences/", data)
    assert QuietHours.objects.get(enrollment=ada).enabled is False
    reminder = write(cohort, Kind.REMINDER, subject="p0-1h")
    assert reminder["ada@example.com", "email"].status == Status.PENDING


def test_the_digest_can_be_turned_off_and_on(make_cohort):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    data = page_data(client, ada)
    data[f"e{ada.pk}-digest"] = Mode.OFF
    client.post("/feed/preferences/", data)
    assert Preference.objects.get(enrollment=ada, kind=Kind.DIGEST, channel=Channel.EMAIL).mode == Mode.OFF
    data[f"e{ada.pk}-digest"] = Mode.IMMEDIATELY
    client.post("/feed/preferences/", data)
    assert (
        Preference.objects.get(enrollment=ada, kind=Kind.DIGEST, channel=Channel.EMAIL).mode
        == Mode.IMMEDIATELY
    )


def test_the_digest_is_offered_for_email_only_and_refused_elsewhere(make_cohort):
    from django.core.exceptions import ValidationError

    from notifications.preferences import preference_set

    cohort = make_cohort()
    cohort.enrollments.filter(email="ada@example.com").update(
        chat_webhook_url="https://hooks.example.com/ada"
    )
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    data = page_data(client, ada)
    data[f"e{ada.pk}-ci_failed__chat"] = Mode.DIGEST
    response = client.post("/feed/preferences/", data)
    assert response.status_code == 400
    assert not Preference.objects.exists()
    # and the service refuses it too (staff's admin goes through it)
    for channel in (Channel.CHAT, Channel.INAPP):
        with pytest.raises(ValidationError, match="Only email has a daily digest"):
            preference_set(enrollment_id=ada.pk, kind=Kind.CI_FAILED, channel=channel, mode=Mode.DIGEST)
    assert not Preference.objects.exists()


def test_ticking_every_kind_keeps_the_digest_out_of_quiet_hours(make_cohort):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    data = page_data(client, ada)
    data[f"e{ada.pk}-quiet_kinds"] = [kind for kind, _ in Kind.choices if kind != Kind.DIGEST]
    assert client.post("/feed/preferences/", data).status_code == 302
    kinds = QuietHours.objects.get(enrollment=ada).kinds
    assert Kind.DIGEST not in kinds
    assert len(kinds) == len(Kind.choices) - 1


def test_quiet_hours_turned_off_need_no_valid_span(make_cohort):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    data = page_data(client, ada)
    data.pop(f"e{ada.pk}-quiet_on")
    data[f"e{ada.pk}-quiet_start"] = data[f"e{ada.pk}-quiet_end"] = "22:00"
    assert client.post("/feed/preferences/", data).status_code == 302
    assert QuietHours.objects.get(enrollment=ada).enabled is False


def test_a_learner_with_a_chat_webhook_chooses_for_chat_too(make_cohort):
    cohort = make_cohort()
    cohort.enrollments.filter(email="ada@example.com").update(
        chat_webhook_url="https://hooks.example.com/ada"
    )
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    data = page_data(client, ada)
    data[f"e{ada.pk}-ci_failed__chat"] = Mode.OFF
    client.post("/feed/preferences/", data)
    assert Preference.objects.get(enrollment=ada, kind=Kind.CI_FAILED).channel == Channel.CHAT


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("quiet_end", "22:00", "Quiet hours must end at another time than they start."),
        ("quiet_start", "25:99", "Enter a valid time."),
        (
            "reminder__email",
            "sometimes",
            "Select a valid choice. sometimes is not one of the available choices.",
        ),
        (
            "window_opened__inapp",
            "digest",
            "Select a valid choice. digest is not one of the available choices.",
        ),
        (
            "quiet_kinds",
            ["reminder", "party"],
            "Select a valid choice. party is not one of the available choices.",
        ),
        ("quiet_kinds", [], "Tick the kinds quiet hours hold back"),
        ("digest", "off", "Reminder: set to come in the daily digest, which would then never be sent."),
    ],
)
def test_bad_input_is_a_form_error_that_saves_nothing(make_cohort, field, value, error):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    client = client_for(cohort, "ada@example.com")
    data = page_data(client, ada)
    data[f"e{ada.pk}-unit_unlocked__email"] = Mode.OFF  # a valid change beside the bad one: not saved either
    data[f"e{ada.pk}-reminder__email"] = Mode.DIGEST
    data[f"e{ada.pk}-{field}"] = value
    if value == []:
        data.pop(f"e{ada.pk}-{field}")

    response = client.post("/feed/preferences/", data)

    assert response.status_code == 400
    assert error in response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    assert not Preference.objects.filter(enrollment=ada).exists()
    assert not QuietHours.objects.filter(enrollment=ada).exists()


def test_only_a_learners_own_enrollments_and_only_logged_in(make_cohort, client):
    cohort = make_cohort()
    bob = cohort.enrollments.get(email="bob@example.com")
    ada_client = client_for(cohort, "ada@example.com")
    data = page_data(client_for(cohort, "bob@example.com"), bob)
    data[f"e{bob.pk}-reminder__email"] = Mode.OFF

    assert ada_client.post("/feed/preferences/", data).status_code == 404
    assert ada_client.post("/feed/preferences/", {"enrollment": "x"}).status_code == 404
    assert not Preference.objects.exists()
    response = client.get("/feed/preferences/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/feed/preferences/")
    assert client.post("/feed/preferences/", data).status_code == 302
    assert not Preference.objects.exists()


def test_a_second_cohort_has_its_own_settings(make_cohort):
    # given ada in two cohorts (the same account)
    first = make_cohort()
    second = make_cohort(name="Nairobi", timezone="Africa/Nairobi", learners=("ada@example.com",))
    ada_first = first.enrollments.get(email="ada@example.com")
    ada_second = second.enrollments.get(email="ada@example.com")
    assert ada_first.user_id == ada_second.user_id
    client = client_for(first, "ada@example.com")

    # then the page shows both, and a change to one leaves the other alone
    forms = client.get("/feed/preferences/").context["forms"]
    assert {item["enrollment"].pk for item in forms} == {ada_first.pk, ada_second.pk}
    assert {item["zone"] for item in forms} == {"Africa/Lagos", "Africa/Nairobi"}
    data = page_data(client, ada_second)
    data[f"e{ada_second.pk}-reminder__email"] = Mode.OFF
    assert client.post("/feed/preferences/", data).status_code == 302
    assert list(Preference.objects.values_list("enrollment_id", "kind", "mode")) == [
        (ada_second.pk, Kind.REMINDER, Mode.OFF)
    ]


def test_a_rehearsal_says_its_quiet_hours_do_not_apply(make_cohort):
    real = make_cohort()
    rehearsal = make_cohort(name="Dry run", speed=60, learners=("kim@example.com",))
    assert (
        "is a rehearsal" not in client_for(real, "ada@example.com").get("/feed/preferences/").content.decode()
    )
    page = client_for(rehearsal, "kim@example.com").get("/feed/preferences/").content.decode()
    assert "Dry run is a rehearsal: its calendar runs faster than any night or hour" in page
