"""Window transitions and submissions in the admin: read-only lists that fit a screen, times in the
cohort's zone, a bounded number of queries per page."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cohorts.services import enrollment_create
from submissions.models import Submission, WindowTransition

pytestmark = pytest.mark.django_db

TRANSITIONS = "/admin/submissions/windowtransition/"
SUBMISSIONS = "/admin/submissions/submission/"
DUE = datetime(2027, 1, 8, 16, 0, tzinfo=UTC)  # p0 is due Fri 17:00 in Lagos


def columns(response) -> list[str]:
    return re.findall(r'<th scope="col" class="[^"]*column-(\w+)', response.content.decode())


def learners(cohort, count):
    return [enrollment_create(cohort=cohort, email=f"learner{i:02d}@example.com") for i in range(count)]


def transitions(cohort, count):
    """The cohort's p0 window opened, and `count - 1` learners' own (extended) due passed."""
    p0 = cohort.program.projects.get(key="p0")
    rows = [WindowTransition(cohort=cohort, project=p0, kind="open", at=DUE - timedelta(days=4))]
    rows += [
        WindowTransition(cohort=cohort, project=p0, kind="due", enrollment=e, at=DUE + timedelta(days=1))
        for e in learners(cohort, count - 1)
    ]
    WindowTransition.objects.bulk_create(rows)


def submissions(cohort, count):
    p0 = cohort.program.projects.get(key="p0")
    Submission.objects.bulk_create(
        Submission(
            enrollment=e,
            project=p0,
            repository_url="https://github.com/learner/p0",
            commit_sha=f"{i:07x}" + "a" * 33,
            submitted_at=DUE + timedelta(hours=i),
            calendar_at=DUE + timedelta(hours=i),
            late=i > 2,
        )
        for i, e in enumerate(learners(cohort, count))
    )


def test_transitions_list_the_cohort_project_kind_learner_and_times_in_the_cohorts_zone(
    make_cohort, admin_client
):
    transitions(make_cohort(learners=()), 2)

    response = admin_client.get(TRANSITIONS)

    assert response.status_code == 200
    assert columns(response) == ["cohort", "project", "kind", "learner", "local_at", "recorded"]
    page = response.content.decode()
    assert "At (cohort&#x27;s zone)" in page
    assert "Recorded at (cohort&#x27;s zone)" in page
    assert "whole cohort" in page  # the cohort's own open
    assert "learner00@example.com" in page  # a learner's own due
    assert "2027-01-09 17:00 WAT" in page
    assert "2026-12-01 13:00 WAT" in page  # recorded at the pinned now, 12:00 UTC


def test_transitions_are_read_only(make_cohort, admin_client):
    transitions(make_cohort(learners=()), 1)
    transition = WindowTransition.objects.get()
    assert admin_client.get(TRANSITIONS + "add/").status_code == 403
    assert admin_client.post(f"{TRANSITIONS}{transition.pk}/change/", {"kind": "close"}).status_code == 403
    assert admin_client.get(f"{TRANSITIONS}{transition.pk}/change/").status_code == 200
    assert WindowTransition.objects.get().kind == "open"


def test_a_cohort_with_transitions_and_submissions_can_still_be_deleted_in_the_admin(
    make_cohort, admin_client
):
    # given a cohort whose calendar recorded transitions and whose learners submitted
    cohort = make_cohort(learners=())
    submissions(cohort, 1)
    WindowTransition.objects.create(
        cohort=cohort, project=cohort.program.projects.get(key="p0"), kind="open", at=DUE - timedelta(days=4)
    )

    # when staff delete the cohort
    response = admin_client.post(f"/admin/cohorts/cohort/{cohort.pk}/delete/", {"post": "yes"})

    # then read-only lists do not stand in the way: the cohort and its records are gone
    assert response.status_code == 302
    assert not WindowTransition.objects.exists()
    assert not Submission.objects.exists()


def test_submissions_list_the_learner_short_commit_late_and_both_times(make_cohort, admin_client):
    cohort = make_cohort(learners=())
    submissions(cohort, 4)

    response = admin_client.get(SUBMISSIONS)

    assert response.status_code == 200
    assert columns(response) == [
        "learner",
        "project",
        "commit",
        "late",
        "ci_status",
        "graded",
        "submitted",
        "calendar",
    ]
    page = response.content.decode()
    assert "Submitted at (cohort&#x27;s zone)" in page
    assert "Calendar at (cohort&#x27;s zone)" in page
    assert ">0000003<" in page  # the short commit
    assert "a" * 33 not in page
    assert "2027-01-08 20:00 WAT" in page  # 3 h after due (16:00 UTC), in Lagos
    assert admin_client.get(SUBMISSIONS, {"q": "learner01@"}).context["cl"].result_count == 1
    assert admin_client.get(SUBMISSIONS, {"late__exact": "1"}).context["cl"].result_count == 1
    assert admin_client.get(SUBMISSIONS + "add/").status_code == 403


@pytest.mark.parametrize(
    ("url", "fill"),
    [(TRANSITIONS, transitions), (SUBMISSIONS, submissions)],
    ids=["transitions", "submissions"],
)
def test_a_page_of_fifty_takes_as_many_queries_as_a_page_of_one(
    make_cohort, admin_client, django_assert_max_num_queries, url, fill
):
    # given one row, count the queries of the list
    cohort = make_cohort(learners=())
    fill(cohort, 1)
    with CaptureQueriesContext(connection) as one:
        assert admin_client.get(url).status_code == 200
    WindowTransition.objects.all().delete()
    Submission.objects.all().delete()
    cohort.enrollments.all().delete()

    # when there are fifty
    fill(cohort, 50)

    # then the list costs the same few queries (no query per row)
    with django_assert_max_num_queries(len(one)):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 50
