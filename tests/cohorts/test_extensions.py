"""Items 2, 6 and 7: a learner's window is the most lenient of the cohort's effective window and every
extension that applies to them; late joiners get their group's extension; past reminders are skipped."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from cohorts import effects, reconcile, services
from notifications.models import Notification
from submissions.services import submission_create

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def before_the_cohort():
    # The services read the one clock: pin it a month before the cohort's 2027 dates.
    with time_machine.travel(utc(2026, 12, 1, 9, 0), tick=False):
        yield


def submit(cohort, email, now, sha):
    enrollment = cohort.enrollments.get(email=email)
    return submission_create(
        enrollment=enrollment,
        project=cohort.program.projects.get(key="p0"),
        repository_url="https://github.com/x/p0",
        commit_sha=sha,
        now=now,
    )


def grant(cohort, due, cutoff, email=None, group=""):
    return services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        enrollment=cohort.enrollments.get(email=email) if email else None,
        group=group,
        reason="illness",
        due_at=due,
        cutoff_at=cutoff,
    )


def test_a_staff_move_of_the_cohorts_cutoff_past_an_extension_reaches_the_extended_learner(make_cohort):
    cohort = make_cohort()
    bob = cohort.enrollments.get(email="bob@example.com")
    # given bob's extension to a cut-off of 12 Jan (the template's is 11 Jan)
    grant(cohort, utc(2027, 1, 10, 16, 0), utc(2027, 1, 12, 8, 0), email="bob@example.com")
    # when staff move the whole cohort's cut-off to 14 Jan and its due to 11 Jan
    services.cohort_event_move(event=cohort.events.get(key="close:p0"), at=utc(2027, 1, 14, 8, 0))
    services.cohort_event_move(event=cohort.events.get(key="due:p0"), at=utc(2027, 1, 11, 16, 0))
    # then bob's own close and due are no earlier than everyone else's
    assert cohort.events.get(key=f"close:p0@{bob.pk}").at == utc(2027, 1, 14, 8, 0)
    assert cohort.events.get(key=f"due:p0@{bob.pk}").at == utc(2027, 1, 11, 16, 0)
    # and on 13 Jan he is accepted like everyone else (this refused him)
    effects.calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=utc(2027, 1, 4, 8, 0))
    assert submit(cohort, "ada@example.com", utc(2027, 1, 13, 9, 0), "a" * 40).late is True
    assert submit(cohort, "bob@example.com", utc(2027, 1, 13, 9, 0), "b" * 40).late is True
    # and his reminders follow his (effective) due
    assert cohort.events.get(key=f"remind:p0:1h@{bob.pk}").at == utc(2027, 1, 11, 15, 0)


def test_an_extension_is_checked_against_the_cohorts_effective_window(make_cohort):
    cohort = make_cohort()
    services.cohort_event_move(event=cohort.events.get(key="close:p0"), at=utc(2027, 1, 14, 8, 0))
    # when staff grant an extension whose cut-off is before the cohort's moved one
    with pytest.raises(ValidationError) as refused:
        grant(cohort, utc(2027, 1, 10, 16, 0), utc(2027, 1, 12, 8, 0), email="bob@example.com")
    # then it is refused naming the field and the cohort's cut-off in the cohort's zone
    assert "cutoff_at" in refused.value.message_dict
    assert "2027-01-14 09:00 WAT" in refused.value.message_dict["cutoff_at"][0]
    # and an extension whose due is before the cohort's is refused too
    with pytest.raises(ValidationError) as early_due:
        grant(cohort, utc(2027, 1, 7, 16, 0), utc(2027, 1, 15, 8, 0), email="bob@example.com")
    assert "due_at" in early_due.value.message_dict
    assert not cohort.extensions.exists()


def test_a_learner_who_joins_a_group_with_an_extension_gets_its_dates_at_once(make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    grant(cohort, utc(2027, 1, 12, 16, 0), utc(2027, 1, 15, 8, 0), group="blue")
    # when a learner enrols into the group after the extension was granted
    cy = services.enrollment_create(cohort=cohort, email="cy@example.com", group="blue")
    # then their own events exist at once, without any other edit
    assert cohort.events.get(key=f"due:p0@{cy.pk}").at == utc(2027, 1, 12, 16, 0)
    # and a learner moved into the group gets them too, and loses them when moved out
    ada = cohort.enrollments.get(email="ada@example.com")
    services.enrollment_update(enrollment=ada, group="blue")
    assert cohort.events.filter(key=f"close:p0@{ada.pk}").exists()
    services.enrollment_update(enrollment=ada, group="")
    assert not cohort.events.filter(key=f"close:p0@{ada.pk}").exists()


def test_an_extension_granted_after_the_due_skips_the_reminders_already_past(make_cohort):
    cohort = make_cohort()
    bob = cohort.enrollments.get(email="bob@example.com")
    # given the cohort's due (8 Jan 16:00 UTC) has passed
    with time_machine.travel(utc(2027, 1, 9, 9, 0), tick=False):
        reconcile.calendar_reconcile()
        # when bob is granted a due of 9 Jan 12:00: his "1 day left" is already 21 h in the past
        grant(cohort, utc(2027, 1, 9, 12, 0), utc(2027, 1, 12, 8, 0), email="bob@example.com")
        reminder_1d = cohort.events.get(key=f"remind:p0:1d@{bob.pk}")
        assert reminder_1d.outcome == "skipped"
        reconcile.calendar_reconcile()
    # and the reconciler does not send it; "1 hour left" (still ahead) is sent at its time
    assert not Notification.objects.filter(
        channel="email", kind="reminder", enrollment=bob, subject="p0:1d"
    ).exists()
    fired = effects.calendar_event_fire(
        cohort_id=cohort.pk, key=f"remind:p0:1h@{bob.pk}", now=utc(2027, 1, 9, 11, 0)
    )
    assert fired.status == "done"
    assert (
        Notification.objects.filter(channel="email", kind="reminder", enrollment=bob, subject="p0:1h").count()
        == 1
    )


def test_a_reminder_caught_up_after_the_due_is_skipped_not_sent(make_cohort):
    make_cohort()
    # when a downtime ends after the due: the reminders run late
    outcomes = reconcile.calendar_reconcile(now=utc(2027, 1, 8, 17, 0))
    status = {o.key: o.status for o in outcomes}
    # then they are recorded as skipped, and nothing says "1 hour left" after the due
    assert status["remind:p0:1d"] == "skipped"
    assert status["remind:p0:1h"] == "skipped"
    assert status["due:p0"] == "done"
    assert not Notification.objects.filter(channel="email", kind="reminder").exists()
    assert Notification.objects.filter(channel="email", kind="due_passed").count() == 2


def test_the_extension_admin_refuses_what_extension_grant_refuses(make_cohort, admin_client):
    cohort = make_cohort()
    bob = cohort.enrollments.get(email="bob@example.com")
    data = {
        "cohort": cohort.pk,
        "project": cohort.program.projects.get(key="p0").pk,
        "enrollment": bob.pk,
        "group": "",
        "due_at_0": "2027-01-10",
        "due_at_1": "16:00:00",
        "cutoff_at_0": "2027-01-10",
        "cutoff_at_1": "17:00:00",
        "reason": "illness",
    }
    # when the cut-off typed is before the cohort's (11 Jan)
    response = admin_client.post("/admin/cohorts/extension/add/", data)
    # then it is a form error, nothing is stored
    assert response.status_code == 200
    assert "The extended cut-off is before the cohort" in response.content.decode()
    assert not cohort.extensions.exists()
    # and a valid one goes through extension_grant: bob's own events are in the calendar at once
    data.update(cutoff_at_0="2027-01-13")
    assert admin_client.post("/admin/cohorts/extension/add/", data).status_code == 302
    # (typed in the cohort's zone: 17:00 in Lagos is 16:00 UTC)
    assert cohort.events.get(key=f"close:p0@{bob.pk}").at == utc(2027, 1, 13, 16, 0)


def test_moving_an_extension_to_another_cohort_resyncs_both(make_cohort, admin_client):
    first = make_cohort()
    second = make_cohort(name="Second", learners=())
    extension = grant(first, utc(2027, 1, 10, 16, 0), utc(2027, 1, 13, 8, 0), group="blue")
    services.enrollment_update(enrollment=first.enrollments.get(email="bob@example.com"), group="blue")
    assert first.events.filter(enrollment__isnull=False).exists()
    blue = services.enrollment_create(cohort=second, email="cy@example.com", group="blue")
    # when staff move the group extension to the second cohort in the admin
    response = admin_client.post(
        f"/admin/cohorts/extension/{extension.pk}/change/",
        {
            "cohort": second.pk,
            "project": extension.project_id,
            "group": "blue",
            "due_at_0": "2027-01-10",
            "due_at_1": "16:00:00",
            "cutoff_at_0": "2027-01-13",
            "cutoff_at_1": "08:00:00",
            "reason": "moved",
        },
    )
    assert response.status_code == 302
    # then the first cohort's learner events are gone and the second's are there
    assert not first.events.filter(enrollment__isnull=False).exists()
    assert second.events.filter(key=f"close:p0@{blue.pk}").exists()
