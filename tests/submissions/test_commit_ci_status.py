"""A commit's CI status from its checks, and each submission of that commit kept up to date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from submissions.github import (
    check_record,
    commit_ci_status,
    normalize_state,
    push_record,
    repository_from_url,
    submission_ci_refresh,
)
from submissions.models import CIStatus, CommitCheck, LearnerRepository, Push, Submission
from tests.factories import EnrollmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db

REPO = "Learner-Ada/project-0"
SHA = "a" * 40
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def record(name="build", state="success", *, source="check_run", at=T0, external_id=None, sha=SHA, repo=REPO):
    return check_record(
        repository=repo,
        sha=sha,
        source=source,
        name=name,
        external_id=external_id or f"{source}-{name}",
        state=state,
        conclusion=state,
        updated_at=at,
        received_at=at,
    )


@pytest.mark.parametrize(
    ("source", "status", "conclusion", "expected"),
    [
        ("check_run", "queued", None, "pending"),
        ("check_run", "in_progress", None, "pending"),
        ("workflow_job", "waiting", None, "pending"),
        ("check_suite", "requested", None, "pending"),
        ("check_run", "completed", "success", "success"),
        ("check_run", "completed", "neutral", "success"),
        ("check_run", "completed", "skipped", "success"),
        ("check_run", "completed", "failure", "failure"),
        ("workflow_run", "completed", "timed_out", "failure"),
        ("check_suite", "completed", "action_required", "failure"),
        ("workflow_run", "completed", "cancelled", "error"),
        ("workflow_run", "completed", "startup_failure", "error"),
        ("check_run", "completed", None, "error"),
        ("check_run", "completed", "something_new", "error"),
        ("status", "pending", None, "pending"),
        ("status", "success", None, "success"),
        ("status", "failure", None, "failure"),
        ("status", "error", None, "error"),
    ],
)
def test_githubs_status_and_conclusion_normalise_to_four_states(source, status, conclusion, expected):
    assert normalize_state(source=source, status=status, conclusion=conclusion) == expected


def test_no_checks_is_none_and_a_required_check_not_reported_yet_is_pending():
    assert commit_ci_status(repository=REPO, sha=SHA, required=[]) == CIStatus.NONE
    assert commit_ci_status(repository=REPO, sha=SHA, required=["autograding"]) == CIStatus.PENDING
    record("lint", "success")
    assert commit_ci_status(repository=REPO, sha=SHA, required=["autograding"]) == CIStatus.PENDING


def test_every_check_counts_when_none_is_required():
    record("lint", "success")
    record("tests", "pending")
    assert commit_ci_status(repository=REPO, sha=SHA, required=[]) == CIStatus.PENDING
    record("tests", "success", at=T0 + timedelta(minutes=1))
    assert commit_ci_status(repository=REPO, sha=SHA, required=[]) == CIStatus.SUCCESS
    record("deploy", "error", source="status")
    assert commit_ci_status(repository=REPO, sha=SHA, required=[]) == CIStatus.ERROR
    record("tests-2", "failure")
    # any failure wins over an error
    assert commit_ci_status(repository=REPO, sha=SHA, required=[]) == CIStatus.FAILURE


def test_only_the_required_checks_count_by_check_workflow_or_status_name():
    # given a failing lint, and the required workflow "autograding" passing
    record("lint", "failure")
    record("autograding", "success", source="workflow_run")
    # then the project that requires only autograding sees success (case-insensitive names)
    assert commit_ci_status(repository=REPO, sha=SHA, required=["Autograding"]) == CIStatus.SUCCESS
    # and one that also requires the status context "ci/deploy" waits for it
    assert (
        commit_ci_status(repository=REPO, sha=SHA, required=["autograding", "ci/deploy"]) == CIStatus.PENDING
    )
    record("ci/deploy", "success", source="status")
    assert (
        commit_ci_status(repository=REPO, sha=SHA, required=["autograding", "ci/deploy"]) == CIStatus.SUCCESS
    )


def test_a_rerun_that_passes_replaces_the_failed_run_of_the_same_name():
    record("autograding", "failure", source="workflow_run", external_id="run-1")
    assert commit_ci_status(repository=REPO, sha=SHA, required=[]) == CIStatus.FAILURE
    record("autograding", "success", source="workflow_run", external_id="run-2", at=T0 + timedelta(minutes=5))
    assert commit_ci_status(repository=REPO, sha=SHA, required=[]) == CIStatus.SUCCESS


def test_an_older_update_arriving_late_never_overwrites_a_newer_one():
    # given the completed state (10:05) delivered before the in-progress one (10:00)
    assert record("tests", "success", at=T0 + timedelta(minutes=5)) is True
    assert record("tests", "pending", at=T0) is False
    # then the check stays completed
    (check,) = CommitCheck.objects.all()
    assert (check.state, check.updated_at) == ("success", T0 + timedelta(minutes=5))
    # and a pending update stamped the same second as a final one does not undo it
    assert record("tests", "pending", at=T0 + timedelta(minutes=5)) is False
    # while a newer update wins, and the very same update again changes nothing
    assert record("tests", "failure", at=T0 + timedelta(minutes=6)) is True
    assert record("tests", "failure", at=T0 + timedelta(minutes=6)) is False
    assert CommitCheck.objects.get().state == "failure"


def make_submission(
    *, url="https://github.com/learner-ada/Project-0.git", sha=SHA, repository=None, required=()
):
    project = ProjectFactory(required_checks=list(required))
    enrollment = EnrollmentFactory(cohort__program=project.program)
    return Submission.objects.create(
        enrollment=enrollment,
        project=project,
        repository_url=url,
        commit_sha=sha,
        submitted_at=T0,
        calendar_at=T0,
        repository=repository,
    )


def test_a_check_update_refreshes_the_submissions_of_that_commit_found_by_url_or_repository():
    # given a submission linked by URL only (other case, .git) with a short SHA, and one by its repository
    by_url = make_submission(sha=SHA[:7])
    linked = make_submission(url="https://example.com/elsewhere", required=["autograding"])
    linked.repository = LearnerRepository.objects.create(
        enrollment=linked.enrollment, project=linked.project, full_name=REPO.upper()
    )
    linked.save()
    other = make_submission(url="https://github.com/someone/else")
    # when the workflow passes
    record("autograding", "success", source="workflow_run")
    # then both submissions of that commit show success; the other repository's does not move
    statuses = dict(Submission.objects.values_list("pk", "ci_status"))
    assert statuses == {by_url.pk: "success", linked.pk: "success", other.pk: "none"}
    assert Submission.objects.get(pk=by_url.pk).ci_checked_at is not None
    # and a failing lint fails the one requiring every check, not the one requiring autograding only
    record("lint", "failure")
    assert submission_ci_refresh(submission_id=by_url.pk) == "failure"
    assert Submission.objects.get(pk=linked.pk).ci_status == "success"


def test_repository_urls_parse_to_owner_and_name():
    assert repository_from_url("https://github.com/Octo/Repo.git") == "octo/repo"
    assert repository_from_url("https://github.com/octo/repo/tree/main") == "octo/repo"
    assert repository_from_url("git@github.com:octo/my.repo.git") == "octo/my.repo"
    assert repository_from_url("https://gitlab.com/octo/repo") == ""


def test_push_record_keeps_branch_pushes_once_per_delivery_and_skips_tags():
    kwargs = {
        "repository": REPO,
        "before": "0" * 40,
        "after": SHA,
        "commits": [SHA],
        "forced": False,
        "received_at": T0,
    }
    push = push_record(ref="refs/heads/main", delivery_id="d1", **kwargs)
    again = push_record(ref="refs/heads/main", delivery_id="d1", **kwargs)
    assert push is not None
    assert again.pk == push.pk
    assert (push.branch, push.received_at, push.commits) == ("main", T0, [SHA])
    assert push_record(ref="refs/tags/v1", delivery_id="d2", **kwargs) is None
    assert Push.objects.count() == 1
