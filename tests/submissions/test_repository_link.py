"""Staff link a learner's existing repository by hand (a project without a template, or a repository made
outside Nexus): it is ready at once, pushes recorded before the link count, a link after the cut-off grades
at once, and bad input is a form error naming the field that saves nothing."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from submissions.grading import graded_commit_record
from submissions.models import LearnerRepository, Submission
from submissions.repositories import repository_link
from tests.submissions.test_graded_commit import CUTOFF, DUE, A, B, push  # p0: due Fri 17:00, Mon 09:00 Lagos

pytestmark = pytest.mark.django_db

ADD = "/admin/submissions/learnerrepository/add/"


def form(cohort, email="ada@example.com", project="p0", **fields):
    data = {
        "enrollment": cohort.enrollments.get(email=email).pk,
        "project": cohort.program.projects.get(key=project).pk,
        "full_name": "ada-lovelace/backend-p0",
        "default_branch": "main",
    }
    data.update(fields)
    return data


def test_staff_link_a_repository_and_its_earlier_pushes_are_graded_at_the_cutoff(make_cohort, admin_client):
    # given pushes to ada's own repository, recorded before anyone linked it (no learner owned it then)
    cohort = make_cohort()
    push("ada-lovelace/backend-p0", A, received_at=DUE - timedelta(hours=2), authored=DUE)
    push("ada-lovelace/backend-p0", B, received_at=DUE + timedelta(hours=1), authored=DUE)  # after her due

    # when staff link it in the admin, typing its github.com address
    response = admin_client.post(
        ADD, form(cohort, full_name="https://github.com/ada-lovelace/backend-p0.git")
    )

    # then it is hers and ready, with its address
    assert response.status_code == 302, response.content.decode()[:3000]
    row = LearnerRepository.objects.get()
    assert (row.enrollment.email, row.full_name, row.state, row.html_url) == (
        "ada@example.com",
        "ada-lovelace/backend-p0",
        LearnerRepository.State.READY,
        "https://github.com/ada-lovelace/backend-p0",
    )
    # and at her cut-off the last push before her due is graded
    with time_machine.travel(CUTOFF, tick=False):
        submission = graded_commit_record(enrollment=row.enrollment, project=row.project)
    assert (submission.commit_sha, submission.repository_id) == (A, row.pk)


def test_a_link_after_the_cutoff_grades_at_once(make_cohort, client, admin_user):
    cohort = make_cohort()
    push("ada-lovelace/backend-p0", A, received_at=DUE - timedelta(hours=2), authored=DUE)
    with time_machine.travel(CUTOFF + timedelta(days=1), tick=False):
        client.force_login(admin_user)
        response = client.post(ADD, form(cohort), follow=True)
    assert f"their graded commit is now {A[:12]}, the last push to ada-lovelace/backend-p0" in (
        response.content.decode()
    )
    graded = Submission.objects.get(graded_at__isnull=False)
    assert (graded.enrollment.email, graded.commit_sha) == ("ada@example.com", A)


def test_a_link_after_the_cutoff_without_pushes_says_nothing_changed(make_cohort, client, admin_user):
    cohort = make_cohort()
    with time_machine.travel(CUTOFF + timedelta(days=1), tick=False):
        client.force_login(admin_user)
        page = client.post(ADD, form(cohort), follow=True).content.decode()
    assert "no push to ada-lovelace/backend-p0 reached Nexus before their due" in page
    assert not Submission.objects.exists()


def test_the_add_page_replaces_the_row_the_template_could_not_make(make_cohort, admin_client):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    LearnerRepository.objects.create(
        enrollment=ada,
        project=cohort.program.projects.get(key="p0"),
        full_name="acme/p0-ada",
        state=LearnerRepository.State.FAILED,
        last_error="422 name already exists",
    )
    response = admin_client.post(ADD, form(cohort, full_name="ada-lovelace/backend-p0.git"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = LearnerRepository.objects.get()
    assert (row.full_name, row.state, row.last_error) == ("ada-lovelace/backend-p0", "ready", "")


def test_a_provisioning_attempt_that_fails_after_a_link_leaves_the_link_alone(make_cohort):
    from submissions.repositories import repository_failed

    # given a row the provisioning task claimed, then staff linked her own repository
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    claimed = LearnerRepository.objects.create(
        enrollment=ada, project=cohort.program.projects.get(key="p0"), full_name="acme/p0-ada"
    )
    repository_link(enrollment=ada, project=claimed.project, full_name="ada-lovelace/backend-p0")
    # when the task's GitHub call then fails for good
    repository_failed(repository_id=claimed.pk, error="403 no access to the template", transient=False)
    # then the linked repository stands
    claimed.refresh_from_db()
    assert (claimed.full_name, claimed.state, claimed.last_error) == ("ada-lovelace/backend-p0", "ready", "")


def test_a_link_replaces_a_failed_template_repository(make_cohort, admin_client):
    # given ada's repository that the template could not make
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    failed = LearnerRepository.objects.create(
        enrollment=ada,
        project=cohort.program.projects.get(key="p0"),
        full_name="acme/p0-ada",
        state=LearnerRepository.State.FAILED,
        last_error="422 name already exists",
    )
    # when staff change it to her own repository
    response = admin_client.post(
        f"/admin/submissions/learnerrepository/{failed.pk}/change/",
        {"full_name": "ada-lovelace/backend-p0", "default_branch": "trunk"},
    )
    # then the same row is hers, ready, error gone
    assert response.status_code == 302, response.content.decode()[:3000]
    failed.refresh_from_db()
    assert (failed.full_name, failed.default_branch, failed.state, failed.last_error) == (
        "ada-lovelace/backend-p0",
        "trunk",
        LearnerRepository.State.READY,
        "",
    )


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"full_name": "not a repository"}, "full_name", "Give the repository as owner/name"),
        ({"full_name": "https://gitlab.com/ada/x"}, "full_name", "Give the repository as owner/name"),
        ({"full_name": "ada/../etc"}, "full_name", "Give the repository as owner/name"),
        ({"default_branch": "main branch"}, "default_branch", "is not a branch name git accepts"),
        ({"default_branch": "a..b"}, "default_branch", "is not a branch name git accepts"),
        ({"default_branch": "-x"}, "default_branch", "is not a branch name git accepts"),
        ({"default_branch": "main.lock"}, "default_branch", "is not a branch name git accepts"),
        ({"full_name": "bob-b/backend-p0"}, "full_name", "is already bob@example.com's repository for p0"),
    ],
)
def test_bad_input_is_a_form_error_naming_the_field(make_cohort, admin_client, fields, field, error):
    cohort = make_cohort()
    bob = cohort.enrollments.get(email="bob@example.com")
    repository_link(
        enrollment=bob, project=cohort.program.projects.get(key="p0"), full_name="bob-b/backend-p0"
    )

    response = admin_client.post(ADD, form(cohort, **fields))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(error in message for message in errors.get(field, [])), errors
    assert LearnerRepository.objects.count() == 1  # bob's only


def test_a_project_of_another_program_is_refused(make_cohort):
    # given a second program with its own p0
    from programs.services import program_load
    from tests.cohorts.conftest import SMALL_PROGRAM

    cohort = make_cohort()
    elsewhere = program_load(data={**SMALL_PROGRAM, "slug": "elsewhere"}, source="elsewhere.yaml").program
    # when ada is linked to that program's p0, it is refused, naming the project
    with pytest.raises(ValidationError) as refused:
        repository_link(
            enrollment=cohort.enrollments.get(email="ada@example.com"),
            project=elsewhere.projects.get(key="p0"),
            full_name="ada/x",
        )
    assert "p0 is a project of another program" in str(refused.value.message_dict["project"])
    assert not LearnerRepository.objects.exists()
