"""The graded commit at each learner's cut-off: the last push that reached us before their due, whatever
the commits' author dates say; extensions move it; its CI is told to the learner once it is final."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from cohorts import services
from cohorts.effects import calendar_event_fire
from notifications.models import Notification
from submissions.grading import graded_commit_record
from submissions.models import CIStatus, CommitCheck, LearnerRepository, Submission
from submissions.services import submission_create
from tasks import github_api
from webhooks.handlers import handle_check_run, handle_push
from webhooks.models import Delivery
from webhooks.tasks import drain_deliveries

pytestmark = pytest.mark.django_db

DUE = datetime(2027, 1, 8, 16, tzinfo=UTC)  # p0: Friday 17:00 in Lagos
CUTOFF = datetime(2027, 1, 11, 8, tzinfo=UTC)  # Monday 09:00 in Lagos
BOB_DUE = datetime(2027, 1, 11, 16, tzinfo=UTC)
BOB_CUTOFF = datetime(2027, 1, 14, 8, tzinfo=UTC)
SECOND = timedelta(seconds=1)
A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


@pytest.fixture
def cohort(make_cohort):
    """p0 with learners' repositories ready; bob has an extension to a later due and cut-off."""
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    project.required_checks = ["autograding"]
    project.save()
    for email, login in (("ada@example.com", "ada-l"), ("bob@example.com", "bob-b")):
        learner = cohort.enrollments.get(email=email)
        LearnerRepository.objects.create(
            enrollment=learner,
            project=project,
            full_name=f"acme/p0-{login}",
            html_url=f"https://github.example/acme/p0-{login}",
            state=LearnerRepository.State.READY,
        )
    services.extension_grant(
        cohort=cohort,
        project=project,
        enrollment=cohort.enrollments.get(email="bob@example.com"),
        reason="illness",
        due_at=BOB_DUE,
        cutoff_at=BOB_CUTOFF,
    )
    return cohort


def push(repository, sha, *, received_at, authored, branch="main"):
    """A push delivery as the receiver stores and handles it; the commit's author date is the learner's."""
    delivery = Delivery.objects.create(
        delivery_id=f"push-{repository}-{sha[:6]}-{received_at.timestamp()}",
        event="push",
        repository=repository,
        received_at=received_at,
        payload={
            "ref": f"refs/heads/{branch}",
            "before": "0" * 40,
            "after": sha,
            "repository": {"full_name": repository},
            "commits": [{"id": sha, "timestamp": authored.isoformat(), "message": "work"}],
            "head_commit": {"id": sha, "timestamp": authored.isoformat()},
        },
    )
    handle_push(delivery)


def check_run(repository, sha, *, name="autograding", conclusion="success", at=DUE):
    delivery = Delivery.objects.create(
        delivery_id=f"check-{sha[:6]}-{name}-{conclusion}",
        event="check_run",
        repository=repository,
        received_at=at,
        payload={
            "action": "completed",
            "check_run": {
                "id": abs(hash((sha, name))) % 10**9,
                "name": name,
                "head_sha": sha,
                "status": "completed",
                "conclusion": conclusion,
                "completed_at": at.isoformat(),
            },
            "repository": {"full_name": repository},
        },
    )
    handle_check_run(delivery)


def graded(email):
    return Submission.objects.get(enrollment__email=email, graded_at__isnull=False)


def test_the_push_received_before_the_due_wins_whatever_the_author_dates_say(cohort):
    # given a push before the due whose commit claims a date long after it
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=1), authored=DUE + timedelta(days=9))
    # and a push after the due whose commit claims a date before it (a forged, backdated commit)
    push("acme/p0-ada-l", B, received_at=DUE + timedelta(hours=1), authored=DUE - timedelta(days=2))
    # and a push to another branch before the due
    push("acme/p0-ada-l", D, received_at=DUE - timedelta(minutes=5), authored=DUE, branch="wip")
    # when ada's cut-off comes
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    # then the commit graded is the one that reached us before her due
    submission = graded("ada@example.com")
    assert submission.commit_sha == A
    assert submission.repository.full_name == "acme/p0-ada-l"
    assert submission.submitted_at == DUE - timedelta(hours=1)
    assert not submission.late
    assert Submission.objects.filter(enrollment__email="ada@example.com").count() == 1


def test_a_learner_with_an_extension_gets_their_later_push_graded_at_their_own_cutoff(cohort):
    # given bob pushed before the cohort's due, and again after it but before his extended due
    push("acme/p0-bob-b", A, received_at=DUE - timedelta(hours=2), authored=DUE)
    push("acme/p0-bob-b", C, received_at=DUE + timedelta(days=2), authored=DUE - timedelta(days=3))
    # and once more after his own due, backdated
    push("acme/p0-bob-b", D, received_at=BOB_DUE + SECOND, authored=DUE - timedelta(days=1))
    # when the cohort's cut-off passes, he is not graded yet (his window is still open)
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    assert not Submission.objects.filter(enrollment__email="bob@example.com").exists()
    # when his own cut-off comes
    bob = cohort.enrollments.get(email="bob@example.com")
    calendar_event_fire(cohort_id=cohort.pk, key=f"close:p0@{bob.pk}", now=BOB_CUTOFF + SECOND)
    # then the push received before his extended due is graded
    assert graded("bob@example.com").commit_sha == C


def test_the_learners_own_submission_of_that_commit_is_the_one_marked(cohort, pinned_now):
    # given ada submitted commit A herself while the window was open
    calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=datetime(2027, 1, 4, 8, 1, tzinfo=UTC))
    ada = cohort.enrollments.get(email="ada@example.com")
    own = submission_create(
        enrollment=ada,
        project=cohort.program.projects.get(key="p0"),
        repository_url="https://github.com/acme/p0-ada-l",
        commit_sha=A,
        now=datetime(2027, 1, 8, 10, tzinfo=UTC),
    )
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=6), authored=DUE)
    # when her cut-off comes
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    # then her own submission is marked graded, no second one is made
    assert graded("ada@example.com").pk == own.pk
    assert Submission.objects.filter(enrollment=ada).count() == 1


def test_grading_twice_keeps_one_graded_submission(cohort):
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=1), authored=DUE)
    ada = cohort.enrollments.get(email="ada@example.com")
    project = cohort.program.projects.get(key="p0")
    first = graded_commit_record(enrollment=ada, project=project)
    second = graded_commit_record(enrollment=ada, project=project)
    assert first.pk == second.pk
    assert first.graded_at == second.graded_at
    assert Submission.objects.filter(enrollment=ada, graded_at__isnull=False).count() == 1


def test_no_push_before_the_due_grades_nothing(cohort):
    push("acme/p0-ada-l", B, received_at=DUE + SECOND, authored=DUE - timedelta(days=1))
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    assert not Submission.objects.filter(enrollment__email="ada@example.com").exists()


def test_the_graded_commit_carries_its_ci_status_from_the_required_checks(cohort):
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=1), authored=DUE)
    check_run("acme/p0-ada-l", A, name="lint", conclusion="failure")  # not required
    check_run("acme/p0-ada-l", A, name="autograding", conclusion="success")
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    assert graded("ada@example.com").ci_status == CIStatus.SUCCESS


def test_the_learner_is_told_once_when_the_graded_commits_ci_becomes_final(cohort):
    # given a graded commit whose CI is still pending
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=1), authored=DUE)
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    assert graded("ada@example.com").ci_status == CIStatus.PENDING
    assert github_api.ci_tell() == 0
    # when its required check fails (a webhook)
    check_run("acme/p0-ada-l", A, conclusion="failure", at=CUTOFF + timedelta(minutes=5))
    # then she is told it failed, once
    assert github_api.ci_tell() == 1
    assert github_api.ci_tell() == 0
    (told,) = Notification.objects.filter(
        enrollment__email="ada@example.com", kind=Notification.Kind.CI_FAILED, channel="email"
    )
    assert told.subject == "p0"
    assert told.payload["status"] == "failure"
    assert told.payload["sha"] == A
    assert told.payload["url"] == f"https://github.example/acme/p0-ada-l/commit/{A}"
    assert graded("ada@example.com").ci_notified == CIStatus.FAILURE
    # when CI is re-run and passes, she is told that too, once
    check_run("acme/p0-ada-l", A, conclusion="success", at=CUTOFF + timedelta(minutes=30))
    assert github_api.ci_tell() == 1
    assert github_api.ci_tell() == 0
    assert Notification.objects.filter(channel="email", kind=Notification.Kind.CI_PASSED).count() == 1


def test_an_ungraded_submissions_ci_is_not_told(cohort):
    check_run("acme/p0-ada-l", A, conclusion="success")
    calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=datetime(2027, 1, 4, 8, 1, tzinfo=UTC))
    submission_create(
        enrollment=cohort.enrollments.get(email="ada@example.com"),
        project=cohort.program.projects.get(key="p0"),
        repository_url="https://github.com/acme/p0-ada-l",
        commit_sha=A,
        now=datetime(2027, 1, 5, 10, tzinfo=UTC),
    )
    assert github_api.ci_tell() == 0
    assert CommitCheck.objects.count() == 1


def test_a_ci_error_is_told_as_a_failure_naming_the_error(cohort):
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=1), authored=DUE)
    check_run("acme/p0-ada-l", A, conclusion="cancelled")
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    assert graded("ada@example.com").ci_status == CIStatus.ERROR
    assert github_api.ci_tell() == 1
    (told,) = Notification.objects.filter(channel="email", kind=Notification.Kind.CI_FAILED)
    assert told.payload["status"] == "error"


def test_a_push_received_before_the_due_but_processed_after_the_cutoff_is_graded(cohort):
    # given ada's push reached us a second before her due, but its delivery waited in the queue
    # (the drain was behind, or Redis was down until Beat's sweep), so her cut-off passed without it
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=3), authored=DUE)
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    assert graded("ada@example.com").commit_sha == A
    # when the waiting push is processed an hour after the cut-off
    with time_machine.travel(CUTOFF + timedelta(hours=1), tick=False):
        push("acme/p0-ada-l", B, received_at=DUE - SECOND, authored=DUE)
    # then her graded commit is the push that reached us before her due, and only that one is graded
    assert graded("ada@example.com").commit_sha == B
    # and a push received after her due, processed late, changes nothing
    with time_machine.travel(CUTOFF + timedelta(hours=2), tick=False):
        push("acme/p0-ada-l", C, received_at=DUE + SECOND, authored=DUE - timedelta(days=1))
    assert graded("ada@example.com").commit_sha == B
    # and bob, whose extended cut-off has not come, is not graded early by a push processed now
    with time_machine.travel(CUTOFF + timedelta(hours=2), tick=False):
        push("acme/p0-bob-b", D, received_at=DUE - SECOND, authored=DUE)
    assert not Submission.objects.filter(enrollment__email="bob@example.com").exists()


def test_a_push_whose_head_is_not_a_commit_sha_is_refused_and_never_breaks_the_cutoff(cohort):
    # given ada's good push, then a signed push whose "after" is not a commit SHA (junk from a sender)
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=2), authored=DUE)
    with pytest.raises(ValueError, match="not a commit SHA"):
        push("acme/p0-ada-l", "refs/heads/main", received_at=DUE - SECOND, authored=DUE)
    # when her cut-off comes
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    # then the junk was never recorded, and her good push is graded
    assert graded("ada@example.com").commit_sha == A


def test_a_rehearsal_grades_by_the_real_instant_its_due_happens_at(make_cohort, pinned_now):
    # given a rehearsal playing a week a minute, with ada's repository
    cohort = make_cohort(speed=7 * 24 * 60)
    project = cohort.program.projects.get(key="p0")
    ada = cohort.enrollments.get(email="ada@example.com")
    LearnerRepository.objects.create(
        enrollment=ada, project=project, full_name="acme/p0-ada-l", state=LearnerRepository.State.READY
    )
    real_due = cohort.to_real(DUE)
    assert real_due < DUE  # (the rehearsal's due is minutes away in real time, not in 2027)
    # and a push a real second before that instant, another a real second after it
    push("acme/p0-ada-l", A, received_at=real_due - SECOND, authored=DUE)
    push("acme/p0-ada-l", B, received_at=real_due + SECOND, authored=DUE - timedelta(days=1))
    # when her cut-off comes (in real time)
    graded_commit_record(enrollment=ada, project=project, now=cohort.to_real(CUTOFF) + SECOND)
    # then the push before the real due is graded, its calendar instant shown beside the real one
    submission = graded("ada@example.com")
    assert submission.commit_sha == A
    assert submission.submitted_at == real_due - SECOND
    assert submission.calendar_at == cohort.calendar_now(real_due - SECOND)
    assert submission.calendar_at < DUE


def test_a_webhook_that_settles_the_graded_commits_ci_tells_the_learner_at_the_drain(cohort, pinned_now):
    # given ada's graded commit, CI pending
    push("acme/p0-ada-l", A, received_at=DUE - timedelta(hours=1), authored=DUE)
    calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=CUTOFF + SECOND)
    # when GitHub's check_run delivery for it is stored by the receiver and drained (no CI poll runs)
    Delivery.objects.create(
        delivery_id="check-run-after-cutoff",
        event="check_run",
        action="completed",
        repository="acme/p0-ada-l",
        received_at=pinned_now,
        payload={
            "action": "completed",
            "check_run": {
                "id": 77,
                "name": "autograding",
                "head_sha": A,
                "status": "completed",
                "conclusion": "success",
                "completed_at": (CUTOFF + timedelta(minutes=5)).isoformat(),
            },
            "repository": {"full_name": "acme/p0-ada-l"},
        },
    )
    result = drain_deliveries.run()
    # then she is told at once that CI passed on her graded commit
    assert result["told"] == 1
    assert Notification.objects.filter(
        enrollment__email="ada@example.com", kind=Notification.Kind.CI_PASSED, channel="email"
    ).exists()
