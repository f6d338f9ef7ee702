"""Staff in the admin: edits go through the services, bad input is a form error naming the field."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django_celery_beat.models import PeriodicTask

from cohorts.models import Cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


def form_data(cohort, **changes):
    data = {
        "program": cohort.program_id,
        "name": cohort.name,
        "start_date": cohort.start_date.isoformat(),
        "timezone": cohort.timezone,
        "anchors": '{"demo_day": "2027-01-29"}',
        "speed": "1.0",
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
        "enrollments-MIN_NUM_FORMS": "0",
        "enrollments-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_changing_the_timezone_in_the_admin_moves_beat_entries(staff, make_cohort):
    cohort = make_cohort(learners=())
    response = staff.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", form_data(cohort, timezone="Asia/Kolkata")
    )
    assert response.status_code == 302
    entry = PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:unlock:week-0")
    assert entry.clocked.clocked_time == datetime(2027, 1, 4, 3, 30, tzinfo=UTC)


def test_an_unknown_timezone_is_a_form_error_and_nothing_changes(staff, make_cohort):
    cohort = make_cohort(learners=())
    response = staff.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", form_data(cohort, timezone="Mars/Olympus")
    )
    assert response.status_code == 200
    assert "Mars/Olympus" in str(response.context["adminform"].form.errors["timezone"])
    assert Cohort.objects.get().timezone == "Africa/Lagos"


def test_a_start_that_puts_events_before_it_is_a_form_error(staff, make_cohort):
    cohort = make_cohort(learners=())
    response = staff.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", form_data(cohort, start_date="2027-01-06")
    )
    assert response.status_code == 200
    assert "before the cohort starts" in str(response.context["adminform"].form.errors["start_date"])
    assert str(Cohort.objects.get().start_date) == "2027-01-04"


def test_moving_one_event_in_the_admin_moves_its_entry(staff, make_cohort):
    cohort = make_cohort(learners=())
    event = cohort.events.get(key="open:p0")
    response = staff.post(
        f"/admin/cohorts/cohortevent/{event.pk}/change/",
        {"override_at_0": "2027-01-04", "override_at_1": "12:00:00"},
    )
    assert response.status_code == 302
    entry = PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:open:p0")
    assert entry.clocked.clocked_time == datetime(2027, 1, 4, 11, 0, tzinfo=UTC)  # typed in Lagos (UTC+1)


def test_moving_a_close_before_its_open_is_refused(staff, make_cohort):
    cohort = make_cohort(learners=())
    event = cohort.events.get(key="close:p0")
    response = staff.post(
        f"/admin/cohorts/cohortevent/{event.pk}/change/",
        {"override_at_0": "2027-01-04", "override_at_1": "07:00:00"},
    )
    assert response.status_code == 200
    assert "closes" in str(response.context["adminform"].form.errors["override_at"])
    assert cohort.events.get(key="close:p0").override_at is None


def test_pause_and_resume_actions(staff, make_cohort):
    cohort = make_cohort(learners=())
    staff.post("/admin/cohorts/cohort/", {"action": "pause", "_selected_action": [cohort.pk]})
    assert Cohort.objects.get().status == "paused"
    assert not PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:", enabled=True).exists()
    staff.post("/admin/cohorts/cohort/", {"action": "resume", "_selected_action": [cohort.pk]})
    assert Cohort.objects.get().status == "scheduled"


def test_deleting_a_cohort_in_the_admin_removes_its_entries(staff, make_cohort):
    cohort = make_cohort(learners=())
    staff.post(f"/admin/cohorts/cohort/{cohort.pk}/delete/", {"post": "yes"})
    assert not Cohort.objects.exists()
    assert not PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:").exists()


def test_every_admin_page_renders(staff, make_cohort):
    make_cohort()
    for path in (
        "/admin/",
        "/admin/cohorts/cohort/",
        "/admin/cohorts/cohortevent/",
        "/admin/programs/program/",
        "/admin/cohorts/extension/add/",
        "/admin/notifications/notification/",
        "/admin/submissions/submission/",
        "/admin/django_celery_beat/periodictask/",
    ):
        assert staff.get(path).status_code == 200, path
