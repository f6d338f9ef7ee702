"""Learner and extension services: the account from the email, bulk import, and the grant rules (later
than the learner's current window, a second grant edits the first, a past time only when asked)."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from cohorts import services
from cohorts.models import Enrollment, Extension

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def grant(cohort, due, cutoff, *, email=None, group="", **kwargs):
    return services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        enrollment=cohort.enrollments.get(email=email) if email else None,
        group=group,
        reason="illness",
        due_at=due,
        cutoff_at=cutoff,
        **kwargs,
    )


def test_a_bad_email_is_an_error_on_email_and_creates_no_account(make_cohort):
    cohort = make_cohort(learners=())
    with pytest.raises(ValidationError) as error:
        services.enrollment_create(cohort=cohort, email="not-an-address")
    assert "email" in error.value.message_dict
    assert not get_user_model().objects.filter(username="not-an-address").exists()


def test_enrolling_the_same_email_twice_is_an_error_on_email(make_cohort):
    cohort = make_cohort()
    with pytest.raises(ValidationError) as error:
        services.enrollment_create(cohort=cohort, email="ADA@example.com")
    assert "already enrolled" in error.value.message_dict["email"][0]


def test_the_parsed_list_names_what_is_wrong_with_each_row(make_cohort):
    cohort = make_cohort()
    text = (
        "email,name,zone,github,group\n"
        "cy@example.com,Cy Young,America/New_York,cy-young,blue\n"
        "not-an-address,,,,\n"
        "dee@example.com,,Mars/Olympus,,\n"
        "eve@example.com,,,bad_login!,\n"
        "CY@example.com,,,,\n"
        "ada@example.com,,,,\n"
    )
    rows = services.enrollment_rows_parse(cohort=cohort, text=text)
    errors = {row.line: row.errors for row in rows}
    assert errors[2] == {}
    assert set(errors[3]) == {"email"}
    assert "Mars/Olympus" in errors[4]["timezone"]
    assert "github_login" in errors[5]
    assert errors[6]["email"] == "duplicate of line 2"
    assert errors[7]["email"] == "already enrolled in this cohort"


def test_too_many_rows_are_refused_before_anything_is_read(make_cohort):
    cohort = make_cohort(learners=())
    text = "\n".join(f"l{i}@example.com" for i in range(services.IMPORT_MAX_ROWS + 1))
    with pytest.raises(ValidationError) as error:
        services.enrollment_rows_parse(cohort=cohort, text=text)
    assert "at most" in error.value.message_dict["csv"][0]


def test_the_import_enrols_valid_rows_and_a_group_extension_reaches_them(make_cohort):
    cohort = make_cohort()
    grant(cohort, utc(2027, 1, 10, 16), utc(2027, 1, 13, 8), group="blue")
    rows = services.enrollment_rows_parse(
        cohort=cohort, text="cy@example.com,Cy Young,,,blue\nbad,,,,\ndee@example.com,,,,\n"
    )
    result = services.enrollments_import(cohort=cohort, rows=rows)
    assert sorted(e.email for e in result.enrolled) == ["cy@example.com", "dee@example.com"]
    assert [row.line for row in result.refused] == [2]
    cy = Enrollment.objects.get(cohort=cohort, email="cy@example.com")
    assert cy.user.first_name == "Cy"
    assert cohort.events.get(key=f"close:p0@{cy.pk}").at == utc(2027, 1, 13, 8)


def test_a_second_grant_for_the_same_learner_edits_the_first(make_cohort):
    cohort = make_cohort()
    first = grant(cohort, utc(2027, 1, 10, 16), utc(2027, 1, 12, 8), email="bob@example.com")
    second = grant(cohort, utc(2027, 1, 11, 16), utc(2027, 1, 14, 8), email="bob@example.com")
    assert second.pk == first.pk
    assert Extension.objects.count() == 1
    bob = cohort.enrollments.get(email="bob@example.com")
    assert cohort.events.get(key=f"close:p0@{bob.pk}").at == utc(2027, 1, 14, 8)


def test_a_grant_not_later_than_the_learners_current_window_is_refused(make_cohort):
    cohort = make_cohort()
    services.enrollment_update(enrollment=cohort.enrollments.get(email="bob@example.com"), group="blue")
    grant(cohort, utc(2027, 1, 12, 16), utc(2027, 1, 14, 8), group="blue")
    # bob's group already gives him more than this personal grant would
    with pytest.raises(ValidationError) as error:
        grant(cohort, utc(2027, 1, 11, 16), utc(2027, 1, 13, 8), email="bob@example.com")
    assert "bob@example.com already has due" in error.value.message_dict["cutoff_at"][0]
    # and a group grant that gives a member nothing later names that member
    grant(cohort, utc(2027, 1, 10, 16), utc(2027, 1, 20, 8), email="bob@example.com")
    with pytest.raises(ValidationError) as error:
        grant(cohort, utc(2027, 1, 12, 16), utc(2027, 1, 15, 8), group="blue")
    assert "bob@example.com" in error.value.message_dict["due_at"][0]
    assert Extension.objects.get(group="blue").cutoff_at == utc(2027, 1, 14, 8)


def test_a_past_time_is_refused_unless_carried_out_now(make_cohort):
    cohort = make_cohort()
    with time_machine.travel(utc(2027, 1, 9, 9, 0), tick=False):
        with pytest.raises(ValidationError) as error:
            grant(cohort, utc(2027, 1, 9, 7), utc(2027, 1, 13, 8), email="bob@example.com")
        assert "already past" in error.value.message_dict["due_at"][0]
        assert not Extension.objects.exists()
        grant(cohort, utc(2027, 1, 9, 7), utc(2027, 1, 13, 8), email="bob@example.com", carry_out_now=True)
    assert Extension.objects.count() == 1
