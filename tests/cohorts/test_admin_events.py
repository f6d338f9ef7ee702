"""Moving one event in the admin: typed in the cohort's zone, a past time only with "carry it out now",
bad input answered on the form (never a 500) with nothing stored changed; the events list."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django_celery_beat.models import PeriodicTask

from cohorts import services
from cohorts.models import CohortEvent
from cohorts.selectors import EventState

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


def travel(client, at):
    """The clock at `at` (a session made at the pinned now would have expired by then: log in again)."""
    traveller = time_machine.travel(at, tick=False)
    traveller.start()
    client.force_login(get_user_model().objects.get(username="staff"))
    return traveller


def change_url(event):
    return f"/admin/cohorts/cohortevent/{event.pk}/change/"


def clocked(cohort, key):
    return PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:{key}").clocked.clocked_time


def test_the_time_is_typed_in_the_cohorts_zone_and_beat_gets_the_utc_instant(staff, make_cohort):
    cohort = make_cohort(
        name="NY",
        start=date(2027, 3, 8),
        timezone="America/New_York",
        demo_day="2027-04-02",
        learners=(),
    )
    event = cohort.events.get(key="close:p0")
    page = staff.get(change_url(event)).content.decode()
    assert "America/New_York" in page
    assert "2027-03-15 09:00:00 EDT" in page  # the program's time, in the zone, with seconds
    assert "2027-03-15 13:00:00 UTC" in page

    # After the spring-forward on 14 March: 10:00 EDT is 14:00 UTC.
    response = staff.post(change_url(event), {"override_at_0": "2027-03-15", "override_at_1": "10:00:30"})

    assert response.status_code == 302
    assert clocked(cohort, "close:p0") == datetime(2027, 3, 15, 14, 0, 30, tzinfo=UTC)
    assert CohortEvent.objects.get(pk=event.pk).override_at == datetime(2027, 3, 15, 14, 0, 30, tzinfo=UTC)


def test_a_rehearsal_shows_the_real_instant_the_event_fires(staff, make_cohort, pinned_now):
    cohort = make_cohort(speed=8640.0, learners=())  # a day in 10 s
    event = cohort.events.get(key="due:p0")
    page = staff.get(change_url(event)).content.decode()
    real = cohort.to_real(event.at)
    assert f"{real:%Y-%m-%d %H:%M:%S} UTC" in page
    assert real - pinned_now < timedelta(minutes=1)  # fires within the rehearsal, not in 2027
    assert "speed 8640" in page


@pytest.mark.parametrize(
    "data",
    [
        {"override_at_0": "2027-02-30", "override_at_1": "10:00"},  # no such day
        {"override_at_0": "2027-01-05", "override_at_1": "25:61"},
        {"override_at_0": "tomorrow", "override_at_1": "noon"},
        {"override_at_0": "2027-01-05", "override_at_1": ""},
        {"override_at_0": "9999-12-31", "override_at_1": "23:59:59"},  # past the end of UTC in New York
        {"override_at_0": "0001-01-01", "override_at_1": "00:00"},
        {"override_at_0": "2027-01-01", "override_at_1": "09:00"},  # before the cohort starts
        {"override_at_0": "2027-01-11", "override_at_1": "10:00"},  # opens after it closes
        {"override_at_0": "2027-01-05\x00", "override_at_1": "10:00"},
    ],
)
def test_bad_input_is_a_form_error_and_nothing_changes(staff, make_cohort, data):
    cohort = make_cohort(name="NY", timezone="America/New_York", learners=())
    event = cohort.events.get(key="open:p0")
    before = clocked(cohort, "open:p0")

    response = staff.post(change_url(event), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert CohortEvent.objects.get(pk=event.pk).override_at is None
    assert clocked(cohort, "open:p0") == before


def test_a_past_time_is_refused_unless_carry_it_out_now_is_ticked(staff, make_cohort):
    cohort = make_cohort(learners=())
    event = cohort.events.get(key="due:p0")  # Fri 2027-01-08 17:00 Lagos
    traveller = travel(staff, datetime(2027, 1, 6, 12, 0, tzinfo=UTC))
    try:
        refused = staff.post(change_url(event), {"override_at_0": "2027-01-05", "override_at_1": "10:00"})
        errors = str(refused.context["adminform"].form.errors["override_at"])
        assert "already past" in errors
        assert "Carry it out now" in errors
        assert CohortEvent.objects.get(pk=event.pk).override_at is None

        moved = staff.post(
            change_url(event),
            {"override_at_0": "2027-01-05", "override_at_1": "10:00", "carry_out_now": "on"},
        )
    finally:
        traveller.stop()

    assert moved.status_code == 302
    now = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
    assert CohortEvent.objects.get(pk=event.pk).override_at == now
    entry = PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:due:p0")
    assert entry.clocked.clocked_time == now
    assert entry.enabled  # armed: Beat sends it at once


def test_the_past_is_the_calendars_in_a_rehearsal(staff, make_cohort, pinned_now):
    cohort = make_cohort(speed=8640.0, learners=())  # a day in 10 s
    event = cohort.events.get(key="due:p0")
    # 30 s into the rehearsal its calendar is at Wednesday ~12:00: Tuesday is past, Thursday is not.
    traveller = travel(staff, cohort.rehearsal_epoch + timedelta(seconds=30))
    try:
        refused = staff.post(change_url(event), {"override_at_0": "2027-01-05", "override_at_1": "10:00"})
        assert "already past" in str(refused.context["adminform"].form.errors["override_at"])
        moved = staff.post(change_url(event), {"override_at_0": "2027-01-07", "override_at_1": "10:00"})
    finally:
        traveller.stop()
    assert moved.status_code == 302
    event.refresh_from_db()
    assert event.override_at == datetime(2027, 1, 7, 9, 0, tzinfo=UTC)
    assert clocked(cohort, "due:p0") == cohort.to_real(event.override_at)


def test_a_done_event_cannot_move(staff, make_cohort):
    cohort = make_cohort(learners=())
    event = cohort.events.get(key="open:p0")
    CohortEvent.objects.filter(pk=event.pk).update(
        done_at=datetime(2027, 1, 4, 8, tzinfo=UTC), outcome="done"
    )

    response = staff.post(change_url(event), {"override_at_0": "2027-01-05", "override_at_1": "10:00"})

    assert response.status_code in (200, 302)
    assert CohortEvent.objects.get(pk=event.pk).override_at is None


def test_from_the_calendar_a_move_returns_to_the_calendar(staff, make_cohort):
    cohort = make_cohort(learners=())
    event = cohort.events.get(key="open:p0")
    response = staff.post(
        change_url(event) + "?from=calendar", {"override_at_0": "2027-01-04", "override_at_1": "12:00"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/admin/cohorts/cohort/{cohort.pk}/calendar/#event-{event.pk}"


def test_events_are_neither_added_nor_deleted_here(staff, make_cohort):
    cohort = make_cohort(learners=())
    event = cohort.events.get(key="open:p0")
    listing = staff.get("/admin/cohorts/cohortevent/")
    assert "delete_selected" not in listing.content.decode()
    assert staff.get(f"/admin/cohorts/cohortevent/{event.pk}/delete/").status_code == 403
    staff.post("/admin/cohorts/cohortevent/", {"action": "delete_selected", "_selected_action": [event.pk]})
    assert CohortEvent.objects.filter(pk=event.pk).exists()
    assert staff.get("/admin/cohorts/cohortevent/add/").status_code == 403


def test_the_events_list_filters_by_state(staff, make_cohort):
    cohort = make_cohort(learners=())
    CohortEvent.objects.filter(cohort=cohort, key="unlock:week-0").update(
        done_at=datetime(2027, 1, 4, 8, tzinfo=UTC), outcome="done"
    )
    CohortEvent.objects.filter(cohort=cohort, key="remind:p0:1d").update(
        done_at=datetime(2027, 1, 4, 8, tzinfo=UTC), outcome="failed", last_error="SMTP down"
    )
    total = cohort.events.count()

    def listed(state):
        response = staff.get(f"/admin/cohorts/cohortevent/?state={state}")
        assert response.status_code == 200
        return {e.key for e in response.context["cl"].result_list}

    assert listed(EventState.DONE) == {"unlock:week-0"}
    assert listed(EventState.FAILED) == {"remind:p0:1d"}
    assert listed(EventState.NEXT) == {"open:p0"}  # Monday 09:00; the unlock at that instant is done
    assert len(listed(EventState.SCHEDULED)) == total - 3
    assert listed(EventState.DUE) == set()
    page = staff.get("/admin/cohorts/cohortevent/").content.decode()
    assert "Mon 04 Jan 09:00:00 WAT" in page  # local time, seconds and zone
    assert 'Failed: <span title="SMTP down">SMTP down</span>' in page
    services.cohort_pause(cohort=cohort)
    assert len(listed(EventState.PAUSED)) == total - 2
    assert staff.get("/admin/cohorts/cohortevent/?state=nonsense").status_code == 200


def test_the_release_list_shows_local_and_utc_times(staff, make_cohort):
    cohort = make_cohort(learners=())
    unit = cohort.program.units.get(key="week-0")
    cohort.releases.create(unit=unit, released_at=datetime(2027, 1, 4, 8, tzinfo=UTC))
    page = staff.get("/admin/cohorts/release/").content.decode()
    assert "Mon 2027-01-04 09:00:00 WAT" in page
    assert "2027-01-04 08:00:00 UTC" in page
