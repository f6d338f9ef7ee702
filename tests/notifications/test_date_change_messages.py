"""Dates staff change reach the learners they concern: one debounced "date changed" per learner and subject
with the final dates, and an immediate "extension granted" to exactly the learners it is for."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError

from cohorts import services
from notifications.models import Notification
from notifications.services import outbox_sweep
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
Status = Notification.Status
DUE = datetime(2027, 1, 8, 16, 0, tzinfo=UTC)  # p0's due: Fri 08 Jan 17:00 in Lagos
DELAY = timedelta(seconds=300)


def moved(cohort, key, at):
    return services.cohort_event_move(event=cohort.events.get(key=key), at=at)


def date_changes(cohort):
    return Notification.objects.filter(cohort=cohort, kind=Kind.DATE_CHANGED, channel="email").order_by(
        "enrollment__email", "pk"
    )


def grant(cohort, *, email="", group="", due=DUE + timedelta(days=3), cutoff=DUE + timedelta(days=5)):
    return services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        enrollment=cohort.enrollments.get(email=email) if email else None,
        group=group,
        reason="illness",
        due_at=due,
        cutoff_at=cutoff,
    )


def test_a_burst_of_moves_of_one_due_yields_one_message_per_learner_with_the_final_date(
    make_cohort, settings
):
    # given a cohort of two learners and a 5-minute debounce
    settings.NEXUS_NOTIFY_DATE_CHANGE_DELAY = 300
    cohort = make_cohort()

    # when staff move p0's due three times within a few minutes (Sat 17:00, Sun 05:00, then Sun 17:00)
    for minutes, hours in ((0, 24), (1, 36), (3, 48)):
        with time_machine.travel(PINNED_NOW + timedelta(minutes=minutes), tick=False):
            moved(cohort, "due:p0", DUE + timedelta(hours=hours))
    last_edit = PINNED_NOW + timedelta(minutes=3)

    # then each learner has exactly one pending message, waiting until 5 minutes after the last edit
    rows = list(date_changes(cohort))
    assert [r.enrollment.email for r in rows] == ["ada@example.com", "bob@example.com"]
    for row in rows:
        assert row.status == Status.PENDING
        assert row.subject == "p0"
        assert row.not_before == last_edit + DELAY
        # what they were last told (Fri) and the final date (Sun)
        assert row.payload["changes"] == [
            {
                "kind": "due",
                "what": "Due",
                "old": DUE.isoformat(),
                "new": (DUE + timedelta(days=2)).isoformat(),
            }
        ]
    # and nothing goes out before the delay is over
    with time_machine.travel(last_edit + DELAY - timedelta(seconds=1), tick=False):
        assert outbox_sweep().sent == 0
    # when the delay is over, one email per learner says the final date, in their zone (and one feed
    # entry each shows up: it waited too)
    with time_machine.travel(last_edit + DELAY, tick=False):
        assert outbox_sweep().sent == 4
    feed = Notification.objects.filter(cohort=cohort, kind=Kind.DATE_CHANGED, channel="inapp")
    assert sorted(feed.values_list("enrollment__email", "status")) == [
        ("ada@example.com", "sent"),
        ("bob@example.com", "sent"),
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "bob@example.com"]
    for message in mail.outbox:
        assert message.subject == "Project 0: dates changed"
        assert "Due: Sun 10 Jan 2027 17:00 WAT (Africa/Lagos) (was Fri 08 Jan 2027 17:00 WAT" in message.body


def test_a_change_after_the_message_went_out_is_a_new_message(make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    moved(cohort, "due:p0", DUE + timedelta(days=1))
    with time_machine.travel(PINNED_NOW + DELAY, tick=False):
        outbox_sweep()
    # when staff move it again, later
    with time_machine.travel(PINNED_NOW + timedelta(hours=1), tick=False):
        moved(cohort, "due:p0", DUE + timedelta(days=2))
    # then the sent message stays as sent, and a new one waits, telling the date she was last told
    sent, waiting = date_changes(cohort)
    assert sent.status == Status.SENT
    assert waiting.status == Status.PENDING
    assert waiting.payload["changes"][0]["old"] == (DUE + timedelta(days=1)).isoformat()


def test_a_date_moved_back_within_the_delay_is_no_news(make_cohort):
    # given a due moved, then moved back to where it was, within the delay
    cohort = make_cohort(learners=("ada@example.com",))
    moved(cohort, "due:p0", DUE + timedelta(days=1))
    with time_machine.travel(PINNED_NOW + timedelta(minutes=1), tick=False):
        moved(cohort, "due:p0", None)  # back to the program's time
    # then the waiting message is suppressed, saying why, and nothing is sent
    [row] = date_changes(cohort)
    assert row.status == Status.SUPPRESSED
    assert "no net change" in row.last_error
    with time_machine.travel(PINNED_NOW + timedelta(hours=1), tick=False):
        assert outbox_sweep().sent == 0


def test_moves_of_two_dates_of_one_project_make_one_message_listing_both(make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    moved(cohort, "due:p0", DUE + timedelta(days=1))
    moved(cohort, "close:p0", DUE + timedelta(days=4))
    [row] = date_changes(cohort)
    assert [c["kind"] for c in row.payload["changes"]] == ["due", "close"]


def test_an_extension_grant_tells_exactly_its_learner_at_once(make_cohort):
    # given two learners; ada is granted an extension
    cohort = make_cohort()
    grant(cohort, email="ada@example.com")

    # then ada alone has an extension message, deliverable now, and no "date changed" for the same news
    [row] = Notification.objects.filter(cohort=cohort, kind=Kind.EXTENSION_GRANTED, channel="email")
    assert row.enrollment.email == "ada@example.com"
    assert row.not_before is None
    assert row.subject == "p0"
    assert row.payload == {
        "cohort": "Lagos",
        "title": "Project 0",
        "due": (DUE + timedelta(days=3)).isoformat(),
        "cutoff": (DUE + timedelta(days=5)).isoformat(),
    }
    assert not date_changes(cohort).exists()
    # when the sweep runs, she is told her new dates in her zone
    assert outbox_sweep().sent == 1
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert "Due:     Mon 11 Jan 2027 17:00 WAT (Africa/Lagos)" in message.body
    assert "Cut-off: Wed 13 Jan 2027 17:00 WAT (Africa/Lagos)" in message.body


def test_a_group_extension_tells_each_learner_of_the_group_and_nobody_else(make_cohort):
    cohort = make_cohort(learners=())
    for email, group in (
        ("ada@example.com", "blue"),
        ("bob@example.com", "blue"),
        ("cy@example.com", "green"),
    ):
        services.enrollment_create(cohort=cohort, email=email, group=group)
    grant(cohort, group="blue")
    told = Notification.objects.filter(cohort=cohort, kind=Kind.EXTENSION_GRANTED, channel="email")
    assert sorted(told.values_list("enrollment__email", flat=True)) == ["ada@example.com", "bob@example.com"]


def test_a_cohort_wide_move_skips_a_learner_whose_own_extension_decides_her_due(make_cohort):
    # given ada's extension (due Mon 11); bob is on the cohort's due
    cohort = make_cohort()
    grant(cohort, email="ada@example.com")
    # when staff move the cohort's due by a day (still before ada's)
    moved(cohort, "due:p0", DUE + timedelta(days=1))
    # then only bob hears of it
    assert [r.enrollment.email for r in date_changes(cohort)] == ["bob@example.com"]


def test_revoking_an_extension_tells_its_learner_her_dates_changed(make_cohort):
    cohort = make_cohort()
    extension = grant(cohort, email="ada@example.com")
    services.extension_revoke(extension=extension)
    [row] = date_changes(cohort)
    assert row.enrollment.email == "ada@example.com"
    assert {c["kind"]: (c["old"], c["new"]) for c in row.payload["changes"]} == {
        "due": ((DUE + timedelta(days=3)).isoformat(), DUE.isoformat()),
        "close": ((DUE + timedelta(days=5)).isoformat(), datetime(2027, 1, 11, 8, 0, tzinfo=UTC).isoformat()),
    }


def test_a_program_edit_that_moves_a_due_tells_every_learner_of_every_cohort(make_cohort, small_program):
    make_cohort(name="Lagos")
    make_cohort(name="Lagos B", learners=("cy@example.com",))
    project = small_program.projects.get(key="p0")
    project.due = "week 0 sat 17:00"
    summary = services.project_save(project=project)
    assert summary.moved >= 2
    rows = Notification.objects.filter(kind=Kind.DATE_CHANGED, channel="email")
    assert sorted(rows.values_list("enrollment__email", flat=True)) == [
        "ada@example.com",
        "bob@example.com",
        "cy@example.com",
    ]
    assert {r.payload["changes"][0]["new"] for r in rows} == {(DUE + timedelta(days=1)).isoformat()}


def test_a_new_cohort_zone_tells_learners_their_dates_moved(make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    services.cohort_update(cohort=cohort, timezone="Europe/London")
    rows = date_changes(cohort)
    # the week's wall-clock times now are London's: p0's dates moved an hour (one message for p0)
    assert rows.filter(subject="p0").count() == 1
    assert rows.filter(subject="week-0").count() == 1


def test_a_learner_who_joins_a_group_with_an_extension_is_not_told_of_a_date_change(make_cohort):
    cohort = make_cohort(learners=())
    services.enrollment_create(cohort=cohort, email="ada@example.com", group="blue")
    grant(cohort, group="blue")
    services.enrollment_create(cohort=cohort, email="bob@example.com", group="blue")
    assert not date_changes(cohort).exists()


@pytest.mark.parametrize("zone", ["Mars/Olympus", "WAT", "UTC+1"])
def test_an_unknown_zone_on_an_enrollment_is_refused(make_cohort, zone):
    cohort = make_cohort(learners=("ada@example.com",))
    with pytest.raises(ValidationError) as refused:
        services.enrollment_create(cohort=cohort, email="bob@example.com", timezone=zone)
    assert zone in refused.value.message_dict["timezone"][0]
    with pytest.raises(ValidationError) as refused:
        services.enrollment_update(enrollment=cohort.enrollments.get(), timezone=zone)
    assert "timezone" in refused.value.message_dict
    assert not cohort.enrollments.filter(email="bob@example.com").exists()


def test_editing_an_extension_tells_its_learner_after_the_delay(make_cohort):
    cohort = make_cohort()
    extension = grant(cohort, email="ada@example.com")
    services.extension_update(
        extension=extension, due_at=DUE + timedelta(days=4), cutoff_at=DUE + timedelta(days=5)
    )
    [row] = date_changes(cohort)
    assert row.enrollment.email == "ada@example.com"
    assert row.not_before == PINNED_NOW + DELAY
    assert row.payload["changes"] == [
        {
            "kind": "due",
            "what": "Due",
            "old": (DUE + timedelta(days=3)).isoformat(),
            "new": (DUE + timedelta(days=4)).isoformat(),
        }
    ]


def test_a_learner_moved_into_a_group_with_an_extension_is_told_her_new_dates(make_cohort):
    cohort = make_cohort(learners=())
    services.enrollment_create(cohort=cohort, email="ada@example.com", group="blue")
    bob = services.enrollment_create(cohort=cohort, email="bob@example.com", group="green")
    grant(cohort, group="blue")
    services.enrollment_update(enrollment=bob, group="blue")
    assert [r.enrollment.email for r in date_changes(cohort)] == ["bob@example.com"]
