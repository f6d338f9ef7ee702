"""What calendar events do for submissions, each keyed by a unique row: run twice, one row."""

import pytest

from cohorts import effects
from submissions import effects as submission_effects
from submissions.models import WindowTransition

pytestmark = pytest.mark.django_db


def test_window_effects_are_registered_for_open_due_and_close():
    for kind in ("open", "due", "close"):
        assert submission_effects.record_transition in effects.effects_for(kind)
    assert submission_effects.record_transition not in effects.effects_for("remind")


@pytest.mark.parametrize("key", ["open:p0", "due:p0", "close:p0"])
def test_a_transition_recorded_twice_is_one_row(make_cohort, key):
    cohort = make_cohort()
    event = cohort.events.get(key=key)
    # when the effect itself runs twice (past the event's done check: a redelivery racing a retry)
    submission_effects.record_transition(cohort, event)
    submission_effects.record_transition(cohort, event)
    # then the unique (cohort, project, kind) key leaves one row
    assert WindowTransition.objects.filter(cohort=cohort, kind=event.kind).count() == 1


def test_a_learners_own_transition_is_keyed_by_the_learner_too(make_cohort):
    from datetime import UTC, datetime

    from cohorts import services

    cohort = make_cohort()
    bob = cohort.enrollments.get(email="bob@example.com")
    services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        enrollment=bob,
        reason="illness",
        due_at=datetime(2027, 1, 11, 16, tzinfo=UTC),
        cutoff_at=datetime(2027, 1, 14, 8, tzinfo=UTC),
    )
    for key in ("close:p0", f"close:p0@{bob.pk}", f"close:p0@{bob.pk}"):
        submission_effects.record_transition(cohort, cohort.events.get(key=key))
    assert WindowTransition.objects.filter(cohort=cohort, kind="close").count() == 2
    assert WindowTransition.objects.filter(cohort=cohort, kind="close", enrollment=bob).count() == 1
