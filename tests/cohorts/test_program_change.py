"""Item 1: a running cohort changes program. The former program's done events stay as history; the new
program's events already due are carried out in due order, as after a downtime."""

import copy
from datetime import UTC, datetime

import pytest
import time_machine

from cohorts import effects, reconcile, services
from cohorts.models import Release
from submissions.models import WindowTransition
from submissions.services import submission_create
from tests.cohorts.conftest import SMALL_PROGRAM

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def second_program(db):
    from programs.services import program_load

    data = copy.deepcopy(SMALL_PROGRAM)
    data.update(slug="second", name="Second program")
    data["units"][0]["title"] = "Week 0, second edition"
    return program_load(data=data, source="second.yaml").program


@pytest.fixture
def running(make_cohort):
    # given a cohort whose week 0 has been carried out under the first program (unit, window opened)
    with time_machine.travel(utc(2027, 1, 4, 12, 0), tick=False):
        cohort = make_cohort()
        reconcile.calendar_reconcile()
    assert cohort.events.get(key="open:p0").outcome == "done"
    return cohort


def test_a_new_program_releases_its_own_units_and_opens_its_own_windows(running, second_program):
    first_program = running.program
    with time_machine.travel(utc(2027, 1, 5, 12, 0), tick=False):
        # when staff switch the cohort to the second program mid-week
        services.cohort_update(cohort=running, program=second_program)
        # then the second program's events already due are carried out, in due order
        outcomes = reconcile.calendar_reconcile()
    assert [o.key for o in outcomes][:2] == ["unlock:week-0", "open:p0"]
    assert Release.objects.filter(cohort=running, unit__program=second_program, unit__key="week-0").exists()
    assert WindowTransition.objects.filter(
        cohort=running, project__program=second_program, kind="open"
    ).exists()
    # and a learner can submit to the new program's project
    enrollment = running.enrollments.get(email="ada@example.com")
    submission = submission_create(
        enrollment=enrollment,
        project=second_program.projects.get(key="p0"),
        repository_url="https://github.com/ada/p0",
        commit_sha="a" * 40,
        now=utc(2027, 1, 5, 13, 0),
    )
    assert submission.pk is not None
    # and the first program's done events stay as history, with what they did
    history = running.events.filter(program=first_program)
    assert set(history.values_list("key", "outcome")) == {("unlock:week-0", "done"), ("open:p0", "done")}
    assert Release.objects.filter(cohort=running, unit__program=first_program).count() == 1


def test_a_program_change_with_extensions_keeps_them_as_history(running, second_program):
    bob = running.enrollments.get(email="bob@example.com")
    with time_machine.travel(utc(2027, 1, 5, 12, 0), tick=False):
        services.extension_grant(
            cohort=running,
            project=running.program.projects.get(key="p0"),
            enrollment=bob,
            reason="illness",
            due_at=utc(2027, 1, 11, 16, 0),
            cutoff_at=utc(2027, 1, 14, 8, 0),
        )
        # when the program changes (this raised KeyError, a 500 in the admin)
        services.cohort_update(cohort=running, program=second_program)
    # then the extension of the former program's project applies to nothing in the new calendar
    assert not running.events.filter(program=second_program, enrollment=bob).exists()
    assert running.extensions.count() == 1


def test_the_admin_switches_program_and_beat_follows(running, second_program, client):
    from django.contrib.auth import get_user_model
    from django_celery_beat.models import PeriodicTask

    from tests.cohorts.test_admin import form_data

    with time_machine.travel(utc(2027, 1, 5, 12, 0), tick=True):
        client.force_login(get_user_model().objects.create_superuser("staff", "s@example.com", "pw"))
        response = client.post(
            f"/admin/cohorts/cohort/{running.pk}/change/", form_data(running, program=second_program.pk)
        )
        assert response.status_code == 302, response.content[:2000]
        reconcile.calendar_reconcile()
    running.refresh_from_db()
    assert running.program == second_program
    assert Release.objects.filter(cohort=running, unit__program=second_program, unit__key="week-0").exists()
    # Beat's entries are the new program's pending events: one per event, none for the history
    names = set(
        PeriodicTask.objects.filter(name__startswith=f"cohort-{running.pk}:").values_list("name", flat=True)
    )
    current = set(running.events.filter(program=second_program).values_list("key", flat=True))
    assert names == {f"cohort-{running.pk}:{key}" for key in current}
    assert effects.calendar_event_fire(cohort_id=running.pk, key="unlock:week-0").status == "already"
