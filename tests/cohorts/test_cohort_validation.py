"""Cohort field validation, the path the admin takes: a rehearsal speed must be a finite number of at least 1."""

import pytest
from django.core.exceptions import ValidationError

from tests.factories import CohortFactory, ProgramFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_cohort_validation_refuses_a_speed_that_is_not_finite(speed):
    # given a cohort with a speed no clock can run at (NaN passes every comparison, so MinValueValidator too)
    cohort = CohortFactory.build(program=ProgramFactory(), speed=speed)

    # when it is validated
    with pytest.raises(ValidationError) as excinfo:
        cohort.full_clean()

    # then the speed field is refused
    assert excinfo.value.message_dict["speed"][0] == f"{speed} is not a finite number."


def test_cohort_validation_accepts_a_finite_rehearsal_speed():
    # given a cohort playing a week a minute
    cohort = CohortFactory.build(program=ProgramFactory(), speed=10080.0)

    # when / then
    cohort.full_clean()
