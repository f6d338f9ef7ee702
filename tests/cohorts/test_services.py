"""Item 4 and zone changes: cohort_update locks the row and writes only what changed."""

from datetime import UTC, datetime

import pytest
from django_celery_beat.models import PeriodicTask

from cohorts import services
from cohorts.models import Cohort

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_an_edit_from_a_stale_form_does_not_undo_a_pause(make_cohort):
    cohort = make_cohort()
    # given a staff member's form loaded the cohort while it was scheduled
    stale = Cohort.objects.get(pk=cohort.pk)
    # when someone else pauses it, then the form is saved with a new name
    services.cohort_pause(cohort=cohort)
    services.cohort_update(cohort=stale, name="Lagos, renamed")
    # then the pause stands: status paused, and no Beat entry of the cohort is enabled again
    cohort.refresh_from_db()
    assert cohort.status == "paused"
    assert cohort.name == "Lagos, renamed"
    entries = PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:")
    assert entries.exists()
    assert not entries.filter(enabled=True).exists()


def test_the_cohort_admin_writes_only_what_its_form_changed(make_cohort, admin_client):
    from tests.cohorts.test_admin import form_data

    cohort = make_cohort()
    services.cohort_pause(cohort=cohort)
    # when staff save the (paused) cohort's form with a new name
    response = admin_client.post(f"/admin/cohorts/cohort/{cohort.pk}/change/", form_data(cohort, name="New"))
    assert response.status_code == 302
    # then the name changed and the pause stands
    cohort.refresh_from_db()
    assert (cohort.name, cohort.status) == ("New", "paused")
    assert not PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:", enabled=True).exists()


def test_a_new_zone_keeps_the_local_wall_time_of_moved_events_and_extensions(make_cohort):
    cohort = make_cohort()  # Africa/Lagos, UTC+1
    # given staff moved the unlock of week 1 to Tuesday 10:00 Lagos time, and bob has an extension
    services.cohort_event_move(event=cohort.events.get(key="unlock:week-1"), at=utc(2027, 1, 12, 9, 0))
    bob = cohort.enrollments.get(email="bob@example.com")
    services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        enrollment=bob,
        reason="illness",
        due_at=utc(2027, 1, 10, 16, 0),  # 17:00 Lagos
        cutoff_at=utc(2027, 1, 13, 8, 0),  # 09:00 Lagos
    )
    # when the cohort moves to New York (UTC-5 in January)
    services.cohort_update(cohort=cohort, timezone="America/New_York")
    # then the moved event is still at Tuesday 10:00, now New York time, and Beat follows
    event = cohort.events.get(key="unlock:week-1")
    assert event.override_at == utc(2027, 1, 12, 15, 0)
    entry = PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:unlock:week-1")
    assert entry.clocked.clocked_time == utc(2027, 1, 12, 15, 0)
    # and so are the extension's due and cut-off (typed in the cohort's zone)
    extension = cohort.extensions.get()
    assert (extension.due_at, extension.cutoff_at) == (utc(2027, 1, 10, 22, 0), utc(2027, 1, 13, 14, 0))
    assert cohort.events.get(key=f"due:p0@{bob.pk}").at == utc(2027, 1, 10, 22, 0)


def test_a_non_finite_speed_is_refused_naming_the_field(make_cohort):
    from django.core.exceptions import ValidationError

    cohort = make_cohort()
    with pytest.raises(ValidationError) as refused:
        services.cohort_update(cohort=cohort, speed=float("nan"))
    assert "speed" in refused.value.message_dict


def test_an_anchor_that_puts_an_event_before_the_start_is_blamed_on_the_anchor(small_program):
    from datetime import date

    from django.core.exceptions import ValidationError

    # when the demo day is set before the cohort even starts
    with pytest.raises(ValidationError) as refused:
        services.cohort_create(
            program=small_program,
            name="Early demo",
            start_date=date(2027, 1, 4),
            timezone="Africa/Lagos",
            anchors={"demo_day": "2026-12-01"},
        )
    # then the anchor is named as the field to fix, not the start date
    assert list(refused.value.message_dict) == ["anchors"]
    assert "due:demo falls on 2026-11-30 18:00 WAT" in refused.value.message_dict["anchors"][0]
