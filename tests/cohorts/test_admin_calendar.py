"""A cohort's calendar page in the admin: weeks, local and real times, states in order, Beat entries,
effects; a bounded number of queries; and the Beat pages that link back to their events."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from cohorts import services
from cohorts.effects import cohort_calendar_advance
from cohorts.models import CohortEvent
from programs.services import program_load

pytestmark = pytest.mark.django_db

A_DAY_IN_10_S = 8640.0


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


def calendar_url(cohort):
    return f"/admin/cohorts/cohort/{cohort.pk}/calendar/"


def states_in_page(html):
    """The event rows' states, top to bottom, with repeats collapsed."""
    states = re.findall(r'<tr id="event-\d+"[^>]*data-state="(\w+)"', html)
    return [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]


def test_a_rehearsal_shows_its_states_in_order(staff, make_cohort):
    cohort = make_cohort(speed=A_DAY_IN_10_S, learners=("ada@example.com",))
    # 40 s in (Friday 00:00 of week 0 on the calendar) the worker has carried out Monday to Thursday...
    cohort_calendar_advance(cohort_id=cohort.pk, now=cohort.rehearsal_epoch + timedelta(seconds=40))
    CohortEvent.objects.filter(cohort=cohort, key="remind:p0:1d").update(
        outcome="failed", last_error="SMTP server said 451"
    )
    # ... and 58 s in (Saturday ~19:00) Friday's reminder and due have fired and are being carried out.
    with time_machine.travel(cohort.rehearsal_epoch + timedelta(seconds=58), tick=False):
        staff.force_login(get_user_model().objects.get(username="staff"))
        html = staff.get(calendar_url(cohort)).content.decode()

    assert states_in_page(html) == ["done", "failed", "due", "next", "scheduled"]
    assert "SMTP server said 451" in html
    assert 'id="week-0"' in html
    assert 'data-current-week="week-0"' in html
    assert "Times in <b>Africa/Lagos</b>" in html
    assert "09:00:00 WAT" in html  # local time with seconds and zone
    real = cohort.to_real(datetime(2027, 1, 4, 8, 0, tzinfo=UTC))
    assert f"{real:%Y-%m-%d %H:%M:%S} UTC" in html  # the real instant, beside the calendar's
    assert "location.reload()" in html  # the page follows the rehearsal
    assert "released Mon 09:00:00 WAT" in html
    assert "window opened" in html
    assert "1 notification" in html
    assert f"/admin/django_celery_beat/periodictask/by-name/cohort-{cohort.pk}:open:p0/" in html


def test_a_paused_cohort_shows_its_pending_events_paused_and_does_not_reload(staff, make_cohort):
    cohort = make_cohort(learners=())
    services.cohort_pause(cohort=cohort)
    html = staff.get(calendar_url(cohort)).content.decode()
    assert states_in_page(html) == ["paused"]
    assert "location.reload()" not in html
    assert ">disabled<" in html  # their Beat entries


def test_the_calendar_is_linked_from_the_cohort_list_and_page(staff, make_cohort):
    cohort = make_cohort(learners=())
    assert calendar_url(cohort) in staff.get("/admin/cohorts/cohort/").content.decode()
    assert calendar_url(cohort) in staff.get(f"/admin/cohorts/cohort/{cohort.pk}/change/").content.decode()


def test_an_unknown_cohort_is_a_404(staff, db):
    assert staff.get("/admin/cohorts/cohort/999/calendar/").status_code == 404
    assert staff.get("/admin/cohorts/cohort/nope/calendar/").status_code == 404


def test_the_calendar_of_a_big_cohort_takes_a_fixed_number_of_queries(
    staff, django_assert_max_num_queries, pinned_now
):
    units = [
        {
            "key": f"week-{n}",
            "title": f"Week {n}",
            "unlock": f"week {n} mon 09:00",
            "projects": [
                {
                    "key": f"p{n}",
                    "title": f"Project {n}",
                    "opens": f"week {n} mon 09:00",
                    "due": f"week {n} fri 17:00",
                    "cutoff": f"week {n + 1} mon 09:00",
                }
            ],
        }
        for n in range(17)
    ]
    program = program_load(
        data={"slug": "big", "name": "Big", "defaults": {"reminders": ["1d", "1h"]}, "units": units},
        source="big.yaml",
    ).program
    cohort = services.cohort_create(
        program=program,
        name="Big",
        start_date=pinned_now.date() + timedelta(days=7 - pinned_now.weekday()),  # next Monday
        timezone="Africa/Lagos",
    )
    for email in ("ada@example.com", "bob@example.com"):
        services.enrollment_create(cohort=cohort, email=email)
    cohort_calendar_advance(cohort_id=cohort.pk, now=pinned_now + timedelta(days=40))
    assert cohort.events.count() >= 100

    with django_assert_max_num_queries(12):
        response = staff.get(calendar_url(cohort))

    assert response.status_code == 200
    assert response.content.decode().count('<tr id="event-') == cohort.events.count()


def test_a_cohort_events_beat_entry_links_back_and_warns_that_edits_are_overwritten(staff, make_cohort):
    cohort = make_cohort(learners=())
    entry = PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:open:p0")
    event = cohort.events.get(key="open:p0")

    by_name = staff.get(f"/admin/django_celery_beat/periodictask/by-name/{entry.name}/")
    assert by_name["Location"] == f"/admin/django_celery_beat/periodictask/{entry.pk}/change/"
    page = staff.get(by_name["Location"]).content.decode()
    assert "overwritten by the next" in page
    assert f"/admin/cohorts/cohortevent/by-entry/{entry.name}/" in page
    assert "2027-01-04 08:00:00 UTC" in page  # its clocked time
    back = staff.get(f"/admin/cohorts/cohortevent/by-entry/{entry.name}/")
    assert back["Location"] == f"/admin/cohorts/cohortevent/{event.pk}/change/"

    listing = staff.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert f"/admin/cohorts/cohort/{cohort.pk}/calendar/" in listing
    clocked = staff.get("/admin/django_celery_beat/clockedschedule/").content.decode()
    assert f"/admin/cohorts/cohortevent/by-entry/{entry.name}/" in clocked
    assert (
        staff.get(f"/admin/django_celery_beat/clockedschedule/{entry.clocked_id}/change/").status_code == 200
    )


def test_other_beat_entries_have_no_note_and_unknown_names_are_404(staff, db):
    other = PeriodicTask.objects.create(
        name="nexus:reconcile",
        task="nexus.reconcile",
        clocked=ClockedSchedule.objects.create(clocked_time=datetime(2027, 1, 1, tzinfo=UTC)),
        one_off=True,
    )
    page = staff.get(f"/admin/django_celery_beat/periodictask/{other.pk}/change/").content.decode()
    assert "overwritten by the next" not in page
    assert staff.get("/admin/django_celery_beat/periodictask/by-name/nope/").status_code == 404
    assert staff.get("/admin/cohorts/cohortevent/by-entry/nope/").status_code == 404
    assert staff.get("/admin/cohorts/cohortevent/by-entry/cohort-9:open:x/").status_code == 404
