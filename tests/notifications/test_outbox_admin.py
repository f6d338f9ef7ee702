"""The outbox in the admin: one screen of status columns, times in the learner's zone, no hand-made rows."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cohorts.services import enrollment_create
from notifications.models import Notification

pytestmark = pytest.mark.django_db

URL = "/admin/notifications/notification/"
OPENS = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # p0 opens Mon 09:00 in Lagos


def outbox(cohort, count):
    """count notifications for as many learners of the cohort (the first one in Kolkata)."""
    enrollments = [
        enrollment_create(
            cohort=cohort, email=f"learner{i:02d}@example.com", timezone="Asia/Kolkata" if i == 0 else ""
        )
        for i in range(count)
    ]
    Notification.objects.bulk_create(
        Notification(
            kind=Notification.Kind.WINDOW_OPENED,
            cohort=cohort,
            enrollment=enrollment,
            subject="p0",
            effective_at=OPENS,
            status=Notification.Status.SENT if i % 2 else Notification.Status.PENDING,
            sent_at=OPENS + timedelta(minutes=1) if i % 2 else None,
        )
        for i, enrollment in enumerate(enrollments)
    )


def test_the_list_shows_the_status_columns_with_times_in_the_learners_zone(make_cohort, admin_client):
    # given a Lagos cohort's outbox; one learner set her own zone (Kolkata)
    outbox(make_cohort(learners=()), 3)

    # when staff open the list
    response = admin_client.get(URL)

    # then each column is there, in order, and times carry the zone they are shown in
    assert response.status_code == 200
    page = response.content.decode()
    columns = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert columns == ["what", "learner", "effective", "channel", "state"]
    for label in ("Learner", "Effective (learner&#x27;s zone)", "Channel", "Status (sent)"):
        assert label in page
    assert "learner00@example.com" in page
    assert "2027-01-04 13:30 IST (Asia/Kolkata)" in page  # her own zone
    assert "2027-01-04 09:00 WAT (Africa/Lagos)" in page  # the cohort's, for the others
    assert "Sent<br>2027-01-04 09:01 WAT" in page  # sent, in the learner's zone


def test_the_list_filters_by_kind_status_channel_and_cohort_and_searches_by_email(make_cohort, admin_client):
    cohort = make_cohort(learners=())
    outbox(cohort, 4)
    other = make_cohort(name="Other", learners=("eve@example.com",))
    Notification.objects.create(
        kind=Notification.Kind.REMINDER,
        cohort=other,
        enrollment=other.enrollments.get(),
        subject="p0:1d",
        effective_at=OPENS,
    )
    page = admin_client.get(URL).content.decode()
    for title in ("By kind", "By status", "By channel", "By cohort"):
        assert title in page
    response = admin_client.get(URL, {"enrollment__cohort__id__exact": cohort.pk, "status__exact": "sent"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    response = admin_client.get(URL, {"q": "learner03@"})
    assert [n.enrollment.email for n in response.context["cl"].result_list] == ["learner03@example.com"]


def test_staff_cannot_add_or_edit_a_notification(make_cohort, admin_client):
    outbox(make_cohort(learners=()), 1)
    notification = Notification.objects.get()
    assert admin_client.get(URL + "add/").status_code == 403
    assert admin_client.get(URL).content.decode().count(URL + "add/") == 0
    response = admin_client.post(f"{URL}{notification.pk}/change/", {"status": "failed"})
    assert response.status_code == 403
    assert Notification.objects.get().status == Notification.Status.PENDING
    assert admin_client.get(f"{URL}{notification.pk}/change/").status_code == 200  # read-only view


def test_a_page_of_fifty_takes_as_many_queries_as_a_page_of_one(
    make_cohort, admin_client, django_assert_max_num_queries
):
    # given one notification, count the queries of the list
    cohort = make_cohort(learners=())
    outbox(cohort, 1)
    with CaptureQueriesContext(connection) as one:
        assert admin_client.get(URL).status_code == 200
    Notification.objects.all().delete()
    cohort.enrollments.all().delete()

    # when the outbox holds fifty, for fifty learners
    outbox(cohort, 50)

    # then the list costs the same few queries (no query per row)
    with django_assert_max_num_queries(len(one)):
        response = admin_client.get(URL)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 50


def test_the_change_page_shows_delivery_and_what_the_learner_was_told(make_cohort, admin_client):
    outbox(make_cohort(learners=()), 1)
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.FAILED,
        attempts=3,
        last_error="learner00@example.com: 550 5.1.1 No such user",
        rendered_subject="Project 0: submissions are open",
        rendered_body="Hello learner00@example.com,\n\nSubmissions for Project 0 opened at ...",
    )
    page = admin_client.get(f"{URL}{notification.pk}/change/").content.decode()
    for text in (
        "Failed",
        "550 5.1.1 No such user",
        "Project 0: submissions are open",
        "Submissions for Project 0 opened at",
        "What the learner was told",
        "Attempts",
    ):
        assert text in page, text


def test_the_retry_action_puts_failed_rows_back_to_pending_and_leaves_others(make_cohort, admin_client):
    # given one failed, one sent and one pending notification
    outbox(make_cohort(learners=()), 3)
    failed, sent, pending = Notification.objects.order_by("enrollment__email")
    Notification.objects.filter(pk=failed.pk).update(
        status=Notification.Status.FAILED, last_error="550 No such user", not_before=OPENS
    )
    # when staff retry all three
    response = admin_client.post(
        URL,
        {"action": "retry", "_selected_action": [failed.pk, sent.pk, pending.pk]},
        follow=True,
    )
    # then only the failed one moves, back to pending with no wait; the page says so
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 notification(s) will be sent again. 2 not failed: left alone." in page
    failed.refresh_from_db()
    assert (failed.status, failed.not_before) == (Notification.Status.PENDING, None)
    assert Notification.objects.get(pk=sent.pk).status == Notification.Status.SENT
    assert Notification.objects.get(pk=pending.pk).status == Notification.Status.PENDING
