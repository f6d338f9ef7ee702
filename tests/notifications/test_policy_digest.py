"""Daily digests: at each learner's local 18:00 one email lists everything held for it; a rerun is a no-op."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F

from cohorts.models import Enrollment
from cohorts.services import enrollment_create
from notifications.digests import digests_write
from notifications.models import Channel, Notification, Preference
from notifications.services import outbox_sweep, outbox_write
from tasks import notifications as notification_tasks

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
Status = Notification.Status
Hold = Notification.HoldReason
DIGEST = Preference.Mode.DIGEST

# Tue 2026-12-01. 18:00 local is 17:00 UTC in Lagos, 12:30 UTC in Kolkata, 23:00 UTC in New York.
MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LAGOS_18 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
KOLKATA_1830 = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # the hourly run at 13:00 UTC is 18:30 there
NEW_YORK_18 = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)


@pytest.fixture
def cohort(make_cohort):
    """A Lagos cohort: ada (Lagos), kim (Kolkata) and ny (New York) take unlocks in the digest."""
    cohort = make_cohort(learners=("ada@example.com",))
    enrollment_create(cohort=cohort, email="kim@example.com", timezone="Asia/Kolkata")
    enrollment_create(cohort=cohort, email="ny@example.com", timezone="America/New_York")
    for enrollment in cohort.enrollments.all():
        Preference.objects.create(
            enrollment=enrollment, kind=Kind.UNIT_UNLOCKED, channel="email", mode=DIGEST
        )
    with time_machine.travel(MORNING, tick=False):
        for unit in ("Week 0", "Week 1"):
            outbox_write(
                kind=Kind.UNIT_UNLOCKED,
                cohort_id=cohort.pk,
                enrollment_ids=cohort.enrollments.values_list("pk", flat=True),
                subject=unit.lower().replace(" ", "-"),
                effective_at=MORNING,
                payload={"title": unit},
            )
    return cohort


def digests():
    return Notification.objects.filter(kind=Kind.DIGEST)


def test_the_digest_goes_to_learners_where_it_is_now_18_and_links_what_it_lists(cohort, smtp):
    # given every learner's two unlocks held for the digest
    assert Notification.objects.filter(status=Status.HELD, hold_reason=Hold.DIGEST).count() == 6
    # when the hourly run happens at 17:00 UTC (18:00 in Lagos, 22:30 in Kolkata, 12:00 in New York)
    with time_machine.travel(LAGOS_18, tick=False):
        assert digests_write(now=LAGOS_18) == 1
        # then only ada has a digest, for her local date, pending, with her two rows linked to it
        [digest] = digests()
        assert (digest.enrollment.email, digest.subject, digest.channel, digest.status) == (
            "ada@example.com",
            "digest:2026-12-01",
            Channel.EMAIL,
            Status.PENDING,
        )
        assert digest.effective_at == LAGOS_18
        assert set(digest.digested.values_list("subject", flat=True)) == {"week-0", "week-1"}
        assert Notification.objects.filter(digest__isnull=True, status=Status.HELD).count() == 4
        # and a rerun in the same hour writes nothing more
        assert digests_write(now=LAGOS_18 + timedelta(minutes=20)) == 0
        assert digests().count() == 1
        # when the sweep runs, the digest goes out like any email: one message listing both
        assert outbox_sweep().sent == 1
    [message] = smtp.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your digest for Tue 01 Dec 2026"
    text = message.get_payload()[0].get_payload(decode=True).decode()
    html = message.get_payload()[1].get_payload(decode=True).decode()
    assert "Week 0 is unlocked (Tue 01 Dec 2026 10:00 WAT (Africa/Lagos))" in text
    assert "Week 1 is unlocked" in text
    assert "<strong>Week 0 is unlocked</strong>" in html
    # and its footer offers to stop the digest (one click, signed link)
    ada = cohort.enrollments.get(email="ada@example.com")
    assert f"Stop these emails: http://127.0.0.1:8000/notifications/unsubscribe/{ada.pk}.digest:" in text
    assert " ".join(message["List-Unsubscribe"].split()).startswith(
        "<http://127.0.0.1:8000/notifications/unsubscribe/"
    )
    # and the linked rows stay held (they went out in the digest) and are not sent again
    assert set(Notification.objects.filter(digest__isnull=False).values_list("status", flat=True)) == {
        Status.HELD
    }


@pytest.mark.parametrize(
    ("now", "who", "day"),
    [
        (KOLKATA_1830, "kim@example.com", "2026-12-01"),  # a :30 zone has its run at 18:30
        (NEW_YORK_18, "ny@example.com", "2026-12-01"),
        (datetime(2026, 12, 2, 17, 0, tzinfo=UTC), "ada@example.com", "2026-12-02"),
    ],
)
def test_each_zone_gets_its_digest_in_its_own_18_hour(cohort, now, who, day):
    with time_machine.travel(now, tick=False):
        assert digests_write(now=now) == 1
    [digest] = digests()
    assert (digest.enrollment.email, digest.subject) == (who, f"digest:{day}")


@pytest.mark.parametrize("hour", [0, 12, 22])
def test_no_digest_outside_the_18_hour(cohort, hour):
    # (22:00 UTC: 23:00 in Lagos, 03:30 in Kolkata, 17:00 in New York: past every catch-up, or before)
    now = datetime(2026, 12, 1, hour, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        assert digests_write(now=now) == 0
    assert not digests().exists()


@pytest.mark.parametrize(
    ("now", "who"),
    [
        (datetime(2026, 12, 1, 19, 0, tzinfo=UTC), "ada@example.com"),  # 20:00 in Lagos
        (datetime(2026, 12, 1, 16, 0, tzinfo=UTC), "kim@example.com"),  # 21:30 in Kolkata
    ],
)
def test_a_run_that_did_not_happen_at_the_hour_is_caught_up_a_few_hours_later(cohort, now, who):
    # given rows waiting since the morning, and no run at the learner's 18:xx (Beat down, workers behind)
    # when a later run happens within NEXUS_DIGEST_CATCH_UP_HOURS (3) the same local day
    with time_machine.travel(now, tick=False):
        assert digests_write(now=now) == 1
        assert digests_write(now=now + timedelta(minutes=30)) == 0
    # then that learner gets the day's digest, with both rows
    [digest] = digests()
    assert (digest.enrollment.email, digest.subject) == (who, "digest:2026-12-01")
    assert digest.digested.count() == 2


def test_the_hour_before_is_not_the_hour(cohort):
    # at 16:00 UTC (17:00 in Lagos) ada's digest is not due yet (kim's, 21:30 in Kolkata, is caught up)
    now = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        digests_write(now=now)
    assert not digests().filter(enrollment__email="ada@example.com").exists()


def test_rows_held_after_the_hour_wait_for_the_next_days_digest(make_cohort):
    # given ada's only digest row, held at 18:30 in Lagos (after her hour)
    cohort = make_cohort(learners=("ada@example.com",))
    ada = cohort.enrollments.get()
    Preference.objects.create(enrollment=ada, kind=Kind.UNIT_UNLOCKED, channel="email", mode=DIGEST)
    late = LAGOS_18 + timedelta(minutes=30)
    with time_machine.travel(late, tick=False):
        outbox_write(
            kind=Kind.UNIT_UNLOCKED,
            cohort_id=cohort.pk,
            enrollment_ids=[ada.pk],
            subject="week-0",
            effective_at=late,
            payload={"title": "Week 0"},
        )
    # when the runs of 19:00 and 20:00 in Lagos happen, nothing is caught up; the next day's 18:00 has it
    for now in (LAGOS_18 + timedelta(hours=1), LAGOS_18 + timedelta(hours=2)):
        with time_machine.travel(now, tick=False):
            assert digests_write(now=now) == 0
    next_day = LAGOS_18 + timedelta(days=1)
    with time_machine.travel(next_day, tick=False):
        assert digests_write(now=next_day) == 1
    assert digests().get().subject == "digest:2026-12-02"


def test_cap_held_rows_go_in_the_digest_too_and_late_rows_wait_for_the_next(cohort, smtp):
    ada = cohort.enrollments.get(email="ada@example.com")
    capped = Notification.objects.create(
        kind=Kind.REMINDER,
        cohort=cohort,
        enrollment=ada,
        subject="p0:1h",
        effective_at=MORNING,
        status=Status.HELD,
        hold_reason=Hold.CAP,
        payload={"title": "Project 0"},
    )
    with time_machine.travel(LAGOS_18, tick=False):
        digests_write(now=LAGOS_18)
        [digest] = digests()
        capped.refresh_from_db()
        assert capped.digest == digest
        outbox_sweep()
        # a row held after the digest went out is not added to it: it waits for tomorrow's
        late = Notification.objects.create(
            kind=Kind.UNIT_UNLOCKED,
            cohort=cohort,
            enrollment=ada,
            subject="late",
            effective_at=LAGOS_18,
            status=Status.HELD,
            hold_reason=Hold.DIGEST,
        )
        assert digests_write(now=LAGOS_18 + timedelta(minutes=30)) == 0
    late.refresh_from_db()
    assert late.digest is None
    tomorrow = LAGOS_18 + timedelta(days=1)
    with time_machine.travel(tomorrow, tick=False):
        assert digests_write(now=tomorrow) == 1
    late.refresh_from_db()
    assert late.digest.subject == "digest:2026-12-02"
    assert "Reminder: Project 0 is due" in smtp.messages[0].get_payload()[0].get_payload(decode=True).decode()


def test_the_digest_task_runs_hourly_on_the_notifications_queue(cohort):
    entry = settings.CELERY_BEAT_SCHEDULE["nexus:notifications-digest"]
    assert entry["task"] == notification_tasks.digest.name == "nexus.notifications.digest"
    assert entry["schedule"] == crontab(minute=0)
    with time_machine.travel(LAGOS_18, tick=False):
        assert notification_tasks.digest() == 1
        assert notification_tasks.digest() == 0


def test_the_digests_own_link_turns_the_digest_off(cohort, smtp, client):
    # given ada's first digest, received
    with time_machine.travel(LAGOS_18, tick=False):
        digests_write(now=LAGOS_18)
        outbox_sweep()
    [message] = smtp.messages
    link = " ".join(message["List-Unsubscribe"].split())[1:-1]
    # when she opens its link: the page says the daily digest is what will be turned off
    path = link.removeprefix("http://127.0.0.1:8000")
    assert "the daily digest" in client.get(path).content.decode()
    assert client.post(path).status_code == 200
    assert Preference.objects.get(enrollment__email="ada@example.com", kind=Kind.DIGEST).mode == "off"
    # then tomorrow's digest is written (it lists what was held) but suppressed, not sent
    tomorrow = LAGOS_18 + timedelta(days=1)
    ada = cohort.enrollments.get(email="ada@example.com")
    Notification.objects.create(
        kind=Kind.UNIT_UNLOCKED,
        cohort=cohort,
        enrollment=ada,
        subject="week-2",
        effective_at=tomorrow,
        status=Status.HELD,
        hold_reason=Hold.DIGEST,
    )
    with time_machine.travel(tomorrow, tick=False):
        assert digests_write(now=tomorrow) == 1
        assert outbox_sweep().sent == 0
    assert digests().get(subject="digest:2026-12-02").status == Status.SUPPRESSED
    assert len(smtp.messages) == 1


def test_digests_for_a_large_cohort_take_a_few_queries_not_some_per_learner(
    make_cohort, django_assert_max_num_queries
):
    # given 2,000 learners (bulk-written) with two held rows each
    cohort = make_cohort(learners=())
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"l{n}@x.org", email=f"l{n}@x.org") for n in range(2_000)
    )
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(cohort=cohort, user=u, email=u.email) for u in users
    )
    Notification.objects.bulk_create(
        Notification(
            kind=Kind.UNIT_UNLOCKED,
            cohort=cohort,
            enrollment_id=e.pk,
            subject=f"week-{n}",
            effective_at=MORNING,
            status=Status.HELD,
            hold_reason=Hold.DIGEST,
        )
        for e in cohort.enrollments.all()
        for n in range(2)
    )
    assert len(enrollments) == 2_000
    # when the 18:00 run writes their digests: a handful of queries, plus the inserts in the batches
    # the database allows (SQLite: 999 parameters, 52 rows of 19 columns a statement)
    with django_assert_max_num_queries(60):
        assert digests_write(now=LAGOS_18) == 2_000
    # then each learner's two rows are linked to their own digest
    assert digests().count() == 2_000
    linked = Notification.objects.filter(digest__isnull=False)
    assert linked.count() == 4_000
    assert not linked.exclude(digest__enrollment_id=F("enrollment_id")).exists()
