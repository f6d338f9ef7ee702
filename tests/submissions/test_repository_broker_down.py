"""Retrying a learner repository with the broker down answers with a message and leaves it to the periodic
provisioning, never a 500."""

from __future__ import annotations

import pytest

from submissions.models import LearnerRepository

# transactional_db: as in production (no ATOMIC_REQUESTS), the action's on-commit publish runs at once.
pytestmark = pytest.mark.django_db(transaction=True)


def test_retrying_a_repository_with_the_broker_down_says_so_and_leaves_it_pending(
    make_cohort, admin_client, broker_down
):
    cohort = make_cohort()
    ada = cohort.enrollments.get(email="ada@example.com")
    repo = LearnerRepository.objects.create(
        enrollment=ada,
        project=cohort.program.projects.get(key="p0"),
        full_name="acme/p0-ada",
        state=LearnerRepository.State.FAILED,
        last_error="no GitHub login",
    )
    response = admin_client.post(
        "/admin/submissions/learnerrepository/",
        {"action": "retry", "_selected_action": [repo.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "The broker is unreachable right now" in response.content.decode()
    repo.refresh_from_db()
    assert repo.state == LearnerRepository.State.PENDING
