"""Item 9: the reconciler stops at the task's soft time limit, and broken events never starve others."""

import copy
from datetime import UTC, date, datetime

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from cohorts import effects, reconcile
from cohorts.models import CohortEvent
from programs.services import program_load
from tests.cohorts.conftest import SMALL_PROGRAM

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def effect_raising():
    """Register an unlock effect that raises what the test says (removed afterwards)."""
    raised: list[BaseException] = []

    def effect(cohort, event):
        if raised:
            raise raised[0]

    effects.register(CohortEvent.Kind.UNLOCK)(effect)
    yield raised
    for kind_effects in effects._REGISTRY.values():
        if effect in kind_effects:
            kind_effects.remove(effect)


def test_the_soft_time_limit_stops_the_reconciler_instead_of_being_logged_as_a_failure(
    make_cohort, effect_raising
):
    cohort = make_cohort()
    effect_raising.append(SoftTimeLimitExceeded())
    # when the task's soft time limit strikes inside an effect
    with pytest.raises(SoftTimeLimitExceeded):
        reconcile.calendar_reconcile(now=utc(2027, 1, 5, 0, 0))
    # then it propagates (the task stops now), and the event is not counted as failed
    event = cohort.events.get(key="unlock:week-0")
    assert event.attempts == 0
    assert event.done_at is None


def test_broken_events_at_the_head_of_the_due_list_do_not_starve_later_ones(make_cohort, small_program):
    # given five cohorts whose first unlock cannot be carried out, due before a healthy cohort's
    broken = [make_cohort(name=f"Broken {i}", learners=()) for i in range(5)]
    healthy_program = program_load(
        data={**copy.deepcopy(SMALL_PROGRAM), "slug": "ok"}, source="ok.yaml"
    ).program
    healthy = make_cohort(
        name="Healthy", learners=(), program=healthy_program, start=date(2027, 1, 11), demo_day="2027-02-05"
    )
    small_program.units.filter(key="week-0").update(key="gone")
    now = utc(2027, 1, 12, 0, 0)
    # when the reconciler runs twice with room for five cohorts a run
    first = reconcile.calendar_reconcile(now=now, limit=5)
    assert healthy.events.get(key="open:p0").done_at is None
    second = reconcile.calendar_reconcile(now=now, limit=5)
    # then the first run tried the broken ones, and the second, skipping them until their retry time,
    # reached the healthy cohort
    assert {o.status for o in first} == {"failed"}
    assert any(o.status == "done" for o in second)
    assert healthy.events.get(key="open:p0").outcome == "done"
    assert all(c.events.get(key="unlock:week-0").retry_at is not None for c in broken)
