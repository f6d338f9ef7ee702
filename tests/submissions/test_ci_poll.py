"""The CI sweep: commits whose status is not final are polled from (fake) GitHub and recorded, so statuses
are right even when webhooks were lost."""

from datetime import UTC, datetime, timedelta

import pytest

from cohorts.effects import calendar_event_fire
from cohorts.services import enrollment_create
from notifications.models import Notification
from submissions import polling
from submissions.models import CIStatus, CommitCheck, LearnerRepository, Push, Submission
from submissions.services import submission_create
from tasks import github_api

pytestmark = pytest.mark.django_db

REPO = "acme/p0-ada-l"
A, B = "a" * 40, "b" * 40
OPENED = datetime(2027, 1, 4, 8, 1, tzinfo=UTC)
DUE = datetime(2027, 1, 8, 16, tzinfo=UTC)
CUTOFF = datetime(2027, 1, 11, 8, tzinfo=UTC)


@pytest.fixture
def submitted(make_cohort, fake_github):
    """ada submitted commit A of her repository in p0's open window; no webhook ever reached us."""
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    project.required_checks = ["autograding"]
    project.save()
    calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=OPENED)
    submission = submission_create(
        enrollment=cohort.enrollments.get(email="ada@example.com"),
        project=project,
        repository_url=f"https://github.com/{REPO}",
        commit_sha=A,
        now=datetime(2027, 1, 5, 10, tzinfo=UTC),
    )
    assert submission.ci_status == CIStatus.NONE
    return submission


def test_the_sweep_turns_a_pending_submission_into_success_from_githubs_check_runs(submitted, fake_github):
    # given GitHub knows the commit's checks (their webhooks were lost)
    fake_github.add_check_run(REPO, A, "autograding", conclusion="success")
    fake_github.add_check_run(REPO, A, "lint", status="in_progress")
    fake_github.statuses[(REPO, A)] = [
        {"context": "coverage", "state": "success", "updated_at": "2027-01-05T10:10:00Z"}
    ]
    # when the sweep runs
    result = github_api.poll_ci()
    # then the submission's CI status comes from the required check
    submitted.refresh_from_db()
    assert submitted.ci_status == CIStatus.SUCCESS
    assert result["polled"] == 1
    # and every check GitHub listed is recorded like a webhook's
    assert set(CommitCheck.objects.values_list("source", "name", "state")) == {
        ("check_run", "autograding", "success"),
        ("check_run", "lint", "pending"),
        ("status", "coverage", "success"),
    }


def test_a_required_workflow_is_polled_when_its_webhooks_were_lost(submitted, fake_github):
    # given the required check is the workflow "autograding", whose only job is named "grade"
    # (check runs are named after jobs: only the workflow run carries the workflow's name)
    fake_github.add_check_run(REPO, A, "grade", conclusion="failure")
    fake_github.add_workflow_run(REPO, A, "autograding", conclusion="failure")
    # when the sweep runs (every webhook about the commit was lost)
    result = github_api.poll_ci()
    # then the workflow's failure is known, not "pending" forever
    submitted.refresh_from_db()
    assert result["polled"] == 1
    assert submitted.ci_status == CIStatus.FAILURE
    assert ("workflow_run", "autograding", "failure") in set(
        CommitCheck.objects.values_list("source", "name", "state")
    )


def test_a_pending_check_then_a_finished_one_on_the_next_sweep(submitted, fake_github):
    fake_github.add_check_run(REPO, A, "autograding", status="in_progress")
    github_api.poll_ci()
    submitted.refresh_from_db()
    assert submitted.ci_status == CIStatus.PENDING
    # when the check finishes, the next sweep sees it (the old answer's ETag no longer matches)
    fake_github.check_runs[(REPO, A)][0].update(
        status="completed", conclusion="failure", completed_at="2027-01-05T11:00:00Z"
    )
    github_api.poll_ci()
    submitted.refresh_from_db()
    assert submitted.ci_status == CIStatus.FAILURE


def test_a_second_sweep_of_an_unchanged_commit_costs_no_rate_limit(submitted, fake_github):
    fake_github.add_check_run(REPO, A, "autograding", status="queued")
    github_api.poll_ci()
    before = fake_github.remaining
    github_api.poll_ci()
    assert fake_github.remaining == before
    # (three requests a sweep: the combined status, the check runs, the workflow runs)
    assert all(r.headers.get("If-None-Match") for r in fake_github.requests[3:])


def test_a_closed_windows_ungraded_submission_is_not_polled(submitted, fake_github):
    calendar_event_fire(
        cohort_id=submitted.enrollment.cohort_id, key="close:p0", now=CUTOFF + timedelta(seconds=1)
    )
    github_api.poll_ci()
    assert fake_github.requests == []


def test_after_the_cutoff_the_graded_commit_is_polled_and_its_learner_told(submitted, fake_github):
    # given ada's repository and a push of A before her due; her cut-off chose A, CI not known yet
    LearnerRepository.objects.create(
        enrollment=submitted.enrollment,
        project=submitted.project,
        full_name=REPO,
        html_url=f"https://github.example/{REPO}",
        state=LearnerRepository.State.READY,
    )
    Push.objects.create(
        repository=REPO, branch="main", after=A, received_at=DUE - timedelta(hours=1), delivery_id="p1"
    )
    calendar_event_fire(
        cohort_id=submitted.enrollment.cohort_id, key="close:p0", now=CUTOFF + timedelta(seconds=1)
    )
    submitted.refresh_from_db()
    assert submitted.graded_at is not None
    # when GitHub has the result and the sweep (enqueued after the cut-off) runs
    fake_github.add_check_run(REPO, A, "autograding", conclusion="success")
    result = github_api.poll_ci()
    # then the graded commit passed, and ada is told so
    submitted.refresh_from_db()
    assert submitted.ci_status == CIStatus.SUCCESS
    assert result["told"] == 1
    assert (
        Notification.objects.filter(
            channel="email", kind=Notification.Kind.CI_PASSED, enrollment=submitted.enrollment
        ).count()
        == 1
    )


def test_a_rate_limit_stops_the_sweep_and_says_until_when(submitted, fake_github):
    fake_github.remaining, fake_github.reset = 0, int(datetime(2026, 12, 1, 13, tzinfo=UTC).timestamp())
    result = github_api.poll_ci()
    assert result["status"] == "rate_limited"
    assert result["until"] == "2026-12-01T13:00:00+00:00"
    assert Submission.objects.get(pk=submitted.pk).ci_status == CIStatus.NONE


def test_one_commit_githubs_errors_on_does_not_stop_the_others(submitted, fake_github):
    fake_github.fail_next(502)
    result = github_api.poll_ci()
    assert result["errors"] == 1


def test_without_a_token_the_sweep_is_off(submitted, settings, fake_github):
    settings.GITHUB_TOKEN = ""
    assert github_api.poll_ci()["status"] == "off"
    assert fake_github.requests == []


def test_the_sweep_skips_closed_windows_in_a_few_queries_however_many_submissions(
    make_cohort, django_assert_max_num_queries
):
    # given 40 learners' ungraded submissions (CI never reported) in p0's window, which has closed
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=OPENED)
    for n in range(40):
        learner = enrollment_create(cohort=cohort, email=f"learner{n}@example.com", resync=False)
        Submission.objects.create(
            enrollment=learner,
            project=project,
            repository_url=f"https://github.com/acme/p0-{n}",
            commit_sha=f"{n:040x}",
            submitted_at=DUE,
            calendar_at=DUE,
        )
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + timedelta(seconds=1))
    # when the sweep looks for commits to poll (every few minutes, for the life of the platform)
    with django_assert_max_num_queries(6):
        commits = polling.commits_to_poll(after_cutoff=timedelta(days=1), now=CUTOFF + timedelta(hours=1))
    # then none of them is polled, and finding that out costs a few queries, not a few per learner
    assert commits == []
