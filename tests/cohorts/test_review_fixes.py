"""Found in review: deletes and moves of program parts, a reconciler stuck on one cohort, a zone change
with moved events, and an absurd rehearsal speed."""

from datetime import UTC, datetime

import pytest
from django.db import OperationalError
from django_celery_beat.models import PeriodicTask

from cohorts import effects, reconcile, services
from cohorts.models import CohortEvent

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_deleting_an_unused_unit_in_the_admin_drops_its_events_from_every_cohort(make_cohort, admin_client):
    cohort = make_cohort()
    unit = cohort.program.units.get(key="week-1")
    response = admin_client.post(f"/admin/programs/unit/{unit.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not cohort.events.filter(key="unlock:week-1").exists()
    assert not PeriodicTask.objects.filter(name=f"cohort-{cohort.pk}:unlock:week-1").exists()


def test_deleting_a_unit_cohorts_have_released_is_refused_and_nothing_changes(make_cohort, admin_client):
    cohort = make_cohort()
    effects.calendar_event_fire(cohort_id=cohort.pk, key="unlock:week-0", now=utc(2027, 1, 4, 8, 0))
    unit = cohort.program.units.get(key="week-0")
    response = admin_client.post(f"/admin/programs/unit/{unit.pk}/delete/", {"post": "yes"}, follow=True)
    assert "cannot be deleted: cohorts have used it (1 release(s))" in response.content.decode()
    assert cohort.program.units.filter(key="week-0").exists()


def test_a_units_program_cannot_be_changed_on_its_page(make_cohort, admin_client):
    cohort = make_cohort()
    unit = cohort.program.units.get(key="week-1")
    html = admin_client.get(f"/admin/programs/unit/{unit.pk}/change/").content.decode()
    assert 'name="program"' not in html


def test_one_cohort_whose_effect_hits_a_database_error_does_not_stop_the_reconciler(
    make_cohort, small_program
):
    import copy

    from programs.services import program_load
    from tests.cohorts.conftest import SMALL_PROGRAM

    stuck = make_cohort(name="Stuck", learners=())
    other_program = program_load(
        data={**copy.deepcopy(SMALL_PROGRAM), "slug": "other"}, source="o.yaml"
    ).program
    other = make_cohort(
        name="Other", learners=(), program=other_program, start=utc(2027, 1, 11).date(), demo_day="2027-02-05"
    )

    def locked(cohort, event):
        if cohort.pk == stuck.pk:
            raise OperationalError("lock timeout")

    effects.register(CohortEvent.Kind.UNLOCK)(locked)
    try:
        reconcile.calendar_reconcile(now=utc(2027, 1, 12, 0, 0))
    finally:
        for kind_effects in effects._REGISTRY.values():
            if locked in kind_effects:
                kind_effects.remove(locked)
    assert stuck.events.get(key="unlock:week-0").done_at is None
    assert other.events.get(key="unlock:week-0").outcome == "done"


def test_a_zone_change_in_the_cohort_form_keeps_moved_events_at_their_wall_time(make_cohort, admin_client):
    from tests.cohorts.test_admin import form_data

    cohort = make_cohort()
    # given the first unlock moved to Monday 00:30 Lagos time (still after the start)
    services.cohort_event_move(event=cohort.events.get(key="unlock:week-0"), at=utc(2027, 1, 3, 23, 30))
    # when staff move the cohort to New York in the form
    response = admin_client.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", form_data(cohort, timezone="America/New_York")
    )
    # then it is accepted (00:30 in New York is still after the start), and the event kept 00:30 local
    assert response.status_code == 302, response.content.decode()[:3000]
    assert cohort.events.get(key="unlock:week-0").override_at == utc(2027, 1, 4, 5, 30)


def test_an_absurd_rehearsal_speed_is_a_form_error_not_a_crash(make_cohort, admin_client):
    from tests.cohorts.test_admin import form_data

    cohort = make_cohort()
    response = admin_client.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", form_data(cohort, speed="1e300")
    )
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to" in response.content.decode()
