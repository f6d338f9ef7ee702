"""Learners' repositories from the project's template, created on the fake GitHub when the window opens."""

from datetime import UTC, datetime

import pytest

from cohorts.effects import calendar_event_fire
from notifications.models import Notification
from submissions.models import LearnerRepository
from submissions.repositories import NO_LOGIN
from tasks import github_api

pytestmark = pytest.mark.django_db

OPENS = datetime(2027, 1, 4, 8, 0, 1, tzinfo=UTC)  # just after p0 opens (09:00 in Lagos)
TEMPLATE = "acme-templates/p0-template"
REPOS = "/admin/submissions/learnerrepository/"


@pytest.fixture
def opened(make_cohort, fake_github):
    """A cohort whose p0 makes repositories from a template: ada has a GitHub login, bob has none."""
    cohort = make_cohort()
    cohort.program.projects.filter(key="p0").update(template_repository=TEMPLATE, github_organization="acme")
    cohort.enrollments.filter(email="ada@example.com").update(github_login="ada-l")
    fake_github.add_template(TEMPLATE)
    calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=OPENS)
    return cohort


def row(email):
    return LearnerRepository.objects.get(enrollment__email=email, project__key="p0")


def test_opening_the_window_plans_one_pending_repository_per_learner(opened, fake_github):
    # then rows wait for the task, and nothing was asked of GitHub inside the event's transaction
    assert row("ada@example.com").state == LearnerRepository.State.PENDING
    assert row("ada@example.com").full_name == "acme/p0-ada-l"
    assert row("bob@example.com").state == LearnerRepository.State.PENDING
    assert fake_github.requests == []


def test_provisioning_creates_the_private_repository_adds_the_learner_and_tells_them(opened, fake_github):
    # when the provisioning task runs
    result = github_api.provision()
    # then ada's private repository exists in the organisation, made from the template
    (generate,) = fake_github.seen("POST", f"/repos/{TEMPLATE}/generate")
    assert generate.body["owner"] == "acme"
    assert generate.body["name"] == "p0-ada-l"
    assert generate.body["private"] is True
    assert fake_github.repos["acme/p0-ada-l"]["private"] is True
    # and she is a collaborator
    assert fake_github.collaborators["acme/p0-ada-l"] == {"ada-l"}
    ada = row("ada@example.com")
    assert ada.state == LearnerRepository.State.READY
    assert ada.html_url == "https://github.example/acme/p0-ada-l"
    assert ada.default_branch == "main"
    assert ada.collaborator_added
    assert result["ready"] == [ada.pk]
    # and she is told where it is
    (told,) = Notification.objects.filter(channel="email", kind=Notification.Kind.REPOSITORY_READY)
    assert told.enrollment.email == "ada@example.com"
    assert told.subject == "p0"
    assert told.payload["url"] == "https://github.example/acme/p0-ada-l"
    assert told.payload["repository"] == "acme/p0-ada-l"


def test_a_learner_without_a_github_login_fails_visibly_and_nothing_is_asked_for_them(opened, fake_github):
    github_api.provision()
    bob = row("bob@example.com")
    assert bob.state == LearnerRepository.State.FAILED
    assert bob.last_error == NO_LOGIN
    assert len(fake_github.seen("POST")) == 1  # ada's only


def test_a_rerun_creates_nothing_twice_and_tells_the_learner_once(opened, fake_github):
    github_api.provision()
    before = len(fake_github.requests)
    # when the task runs again (a retry, the periodic sweep, a second worker)
    github_api.provision()
    github_api.provision(repository_ids=[row("ada@example.com").pk])
    # then GitHub is asked nothing more, and one notification stands
    assert len(fake_github.requests) == before
    assert Notification.objects.filter(channel="email", kind=Notification.Kind.REPOSITORY_READY).count() == 1


def test_an_existing_repository_is_adopted_not_duplicated(opened, fake_github):
    # given the repository already exists (an earlier run died after creating it)
    fake_github.repos["acme/p0-ada-l"] = {
        **fake_github.repos[TEMPLATE],
        "full_name": "acme/p0-ada-l",
        "name": "p0-ada-l",
        "html_url": "https://github.example/acme/p0-ada-l",
        "default_branch": "trunk",
        "is_template": False,
    }
    # when provisioning runs
    github_api.provision()
    # then GitHub said 422, the repository was read and adopted, and the learner added to it
    assert len(fake_github.seen("POST", f"/repos/{TEMPLATE}/generate")) == 1
    assert len(fake_github.seen("GET", "/repos/acme/p0-ada-l")) == 1
    assert fake_github.collaborators["acme/p0-ada-l"] == {"ada-l"}
    ada = row("ada@example.com")
    assert ada.state == LearnerRepository.State.READY
    assert ada.default_branch == "trunk"


def test_a_transient_error_stays_pending_with_the_error_and_is_retried(opened, fake_github):
    fake_github.fail_next(502, body={"message": "Server Error"})
    github_api.provision()
    ada = row("ada@example.com")
    assert ada.state == LearnerRepository.State.PENDING
    assert "502" in ada.last_error
    assert ada.attempts == 1
    github_api.provision()
    assert row("ada@example.com").state == LearnerRepository.State.READY


def test_a_permanent_error_fails_the_row_with_githubs_reason(opened, fake_github):
    fake_github.fail_next(403, body={"message": "Resource not accessible by integration"})
    github_api.provision()
    ada = row("ada@example.com")
    assert ada.state == LearnerRepository.State.FAILED
    assert "Resource not accessible by integration" in ada.last_error


def test_a_rate_limit_stops_the_run_and_leaves_the_rows_for_the_next(opened, fake_github):
    fake_github.secondary_limit(60)
    result = github_api.provision()
    assert result["status"] == "rate_limited"
    assert row("ada@example.com").state == LearnerRepository.State.PENDING
    assert row("ada@example.com").last_error == ""


def test_once_staff_set_the_login_the_sweep_creates_the_repository(opened, fake_github):
    github_api.provision()
    assert row("bob@example.com").state == LearnerRepository.State.FAILED
    # when staff set bob's login
    opened.enrollments.filter(email="bob@example.com").update(github_login="bob-b")
    github_api.provision()
    # then the next run picks his row up
    bob = row("bob@example.com")
    assert bob.state == LearnerRepository.State.READY
    assert bob.full_name == "acme/p0-bob-b"
    assert fake_github.collaborators["acme/p0-bob-b"] == {"bob-b"}


def test_the_admin_lists_failures_and_its_retry_action_works(opened, fake_github, admin_client):
    # given a failure GitHub gave (not one the sweep retries by itself)
    fake_github.fail_next(403, body={"message": "Resource not accessible by integration"})
    github_api.provision(repository_ids=[row("ada@example.com").pk])
    ada = row("ada@example.com")
    # then staff see it, with GitHub's reason
    page = admin_client.get(REPOS).content.decode()
    assert "Resource not accessible by integration" in page
    assert "acme/p0-ada-l" in page
    # when they retry it
    response = admin_client.post(REPOS, {"action": "retry", "_selected_action": [ada.pk]}, follow=True)
    assert "1 repository queued to be created again." in response.content.decode()
    assert row("ada@example.com").state == LearnerRepository.State.PENDING
    # and the task runs (the action enqueued it on commit)
    github_api.provision(repository_ids=[ada.pk])
    assert row("ada@example.com").state == LearnerRepository.State.READY


def test_a_project_without_a_template_plans_nothing(make_cohort):
    cohort = make_cohort()
    calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=OPENS)
    assert not LearnerRepository.objects.exists()


def test_without_a_token_provisioning_is_off_and_says_so(settings):
    settings.GITHUB_TOKEN = ""
    assert github_api.provision() == {"status": "off", "reason": "GITHUB_TOKEN is not set"}


def test_a_learner_who_enrols_after_the_window_opened_gets_a_repository_at_the_next_sweep(
    opened, fake_github
):
    from cohorts.services import enrollment_create

    github_api.provision()
    # given a learner who joins while the window is open
    enrollment_create(cohort=opened, email="cy@example.com", github_login="cy-c")
    # when the periodic provisioning runs
    github_api.provision()
    # then their repository is made too
    assert row("cy@example.com").state == LearnerRepository.State.READY
    assert fake_github.collaborators["acme/p0-cy-c"] == {"cy-c"}


def test_a_refused_token_stops_the_run_and_fails_no_learners_row(opened, fake_github):
    fake_github.token = "rotated"  # GitHub no longer accepts ours
    result = github_api.provision()
    assert result["status"] == "unauthorized"
    assert row("ada@example.com").state == LearnerRepository.State.PENDING
    assert row("ada@example.com").last_error == ""
