"""Item 3: the Unit and Project pages re-sync every cohort of the program; a change some cohort's
calendar refuses is a form error naming the cohort, and nothing changes."""

from datetime import UTC, datetime

import pytest
from django_celery_beat.models import PeriodicTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_now")]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def entry_time(cohort, key):
    return PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:{key}").clocked.clocked_time


def unit_form(unit, **changes):
    data = {
        "program": unit.program_id,
        "key": unit.key,
        "position": unit.position,
        "title": unit.title,
        "summary": unit.summary,
        "phase": unit.phase,
        "unlock": unit.unlock,
        "content-TOTAL_FORMS": "0",
        "content-INITIAL_FORMS": "0",
        "content-MIN_NUM_FORMS": "0",
        "content-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def project_form(project, **changes):
    data = {
        "program": project.program_id,
        "unit": project.unit_id,
        "key": project.key,
        "position": project.position,
        "title": project.title,
        "description": project.description,
        "opens": project.opens,
        "due": project.due,
        "cutoff": project.cutoff,
        "grace": "02:00:00",
        "reminders": "",
    }
    data.update(changes)
    return data


def test_editing_a_units_unlock_on_the_unit_page_moves_every_cohorts_entry(make_cohort, admin_client):
    lagos = make_cohort()
    nyc = make_cohort(name="NYC", timezone="America/New_York")
    unit = lagos.program.units.get(key="week-1")
    # when staff move week 1's unlock from Monday 09:00 to Tuesday 10:00 on the Unit page
    response = admin_client.post(
        f"/admin/programs/unit/{unit.pk}/change/", unit_form(unit, unlock="week 1 tue 10:00")
    )
    assert response.status_code == 302
    # then both cohorts' events and Beat entries moved, each in its own zone
    assert entry_time(lagos, "unlock:week-1") == utc(2027, 1, 12, 9, 0)
    assert entry_time(nyc, "unlock:week-1") == utc(2027, 1, 12, 15, 0)
    assert lagos.events.get(key="unlock:week-1").at == utc(2027, 1, 12, 9, 0)


def test_editing_a_projects_due_on_the_project_page_moves_its_events(make_cohort, admin_client):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    response = admin_client.post(
        f"/admin/programs/project/{project.pk}/change/", project_form(project, due="week 0 sat 12:00")
    )
    assert response.status_code == 302
    # then the due and the reminders counted from it moved in Beat
    assert entry_time(cohort, "due:p0") == utc(2027, 1, 9, 11, 0)
    assert entry_time(cohort, "remind:p0:1h") == utc(2027, 1, 9, 10, 0)


def test_a_project_edit_a_cohort_refuses_is_a_form_error_naming_the_cohort(make_cohort, admin_client):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    # when the opening moves before the cohort's start
    response = admin_client.post(
        f"/admin/programs/project/{project.pk}/change/", project_form(project, opens="week -1 mon 09:00")
    )
    # then the page says which cohort refuses it and why, and nothing changed
    assert response.status_code == 200
    assert "cohort &#x27;Lagos&#x27; would refuse this change" in response.content.decode()
    project.refresh_from_db()
    assert project.opens == "week 0 mon 09:00"
    assert entry_time(cohort, "open:p0") == utc(2027, 1, 4, 8, 0)
