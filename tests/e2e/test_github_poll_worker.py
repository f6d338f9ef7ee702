"""End to end: a real worker polls CI from the fake GitHub on loopback, and creates a learner's repository."""

from datetime import UTC, datetime

import pytest

from submissions.models import CIStatus, LearnerRepository, Submission, WindowTransition
from tasks.github_api import poll_ci, provision
from tests.factories import EnrollmentFactory, ProjectFactory
from tests.webhooks.fakegithub import fake_github  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e

REPO = "acme/p0-ada-l"
SHA = "e" * 40


@pytest.fixture
def github_env(fake_github, monkeypatch):  # noqa: F811 - the fixture imported above
    """The worker process reads GitHub's URL and token from its environment, like production."""
    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.setenv("GITHUB_TOKEN", fake_github.token)
    return fake_github


@pytest.fixture
def learner(transactional_db):
    enrollment = EnrollmentFactory(github_login="ada-l")
    project = ProjectFactory(
        program=enrollment.cohort.program,
        unit__program=enrollment.cohort.program,
        key="p0",
        required_checks=["autograding"],
        template_repository="acme-templates/p0",
        github_organization="acme",
    )
    WindowTransition.objects.create(
        cohort=enrollment.cohort, project=project, kind=WindowTransition.Kind.OPEN, at=datetime.now(tz=UTC)
    )
    return enrollment, project


def test_a_real_worker_polls_ci_from_github_and_records_it(github_env, learner, celery_worker_process):
    # given a submission in an open window whose CI webhooks never came, and GitHub knows it passed
    enrollment, project = learner
    submission = Submission.objects.create(
        enrollment=enrollment,
        project=project,
        repository_url=f"https://github.com/{REPO}",
        commit_sha=SHA,
        submitted_at=datetime.now(tz=UTC),
        calendar_at=datetime.now(tz=UTC),
    )
    github_env.add_check_run(REPO, SHA, "autograding", conclusion="success")
    # when the sweep runs on the worker (the github queue)
    result = poll_ci.delay().get(timeout=60)
    # then the worker asked the fake GitHub with the token, and the submission passed
    assert result["polled"] == 1, result
    assert github_env.seen("GET", f"/repos/{REPO}/commits/{SHA}/check-runs")
    assert all(r.headers["Authorization"] == f"Bearer {github_env.token}" for r in github_env.requests)
    submission.refresh_from_db()
    assert submission.ci_status == CIStatus.SUCCESS


def test_a_real_worker_creates_the_learners_repository(github_env, learner, celery_worker_process):
    enrollment, project = learner
    github_env.add_template("acme-templates/p0")
    row = LearnerRepository.objects.create(enrollment=enrollment, project=project, full_name="acme/p0-ada-l")
    result = provision.delay().get(timeout=60)
    assert result["ready"] == [row.pk], result
    row.refresh_from_db()
    assert row.state == LearnerRepository.State.READY
    assert github_env.collaborators["acme/p0-ada-l"] == {"ada-l"}
