"""Delivery policy: each learner's preference, quiet hours in their own local time (across midnight and DST),
and the hourly email cap decide what a new row does; held rows go out when their quiet hours end."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail

from cohorts.models import Enrollment
from cohorts.services import enrollment_create
from notifications import policy
from notifications.models import Channel, Notification, Preference, QuietHours
from notifications.policy import Decision
from notifications.services import outbox_sweep, outbox_write
from tests.conftest import PINNED_NOW

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
Status = Notification.Status
Hold = Notification.HoldReason
Mode = Preference.Mode


def learners(cohort) -> dict[str, int]:
    return dict(cohort.enrollments.values_list("email", "pk"))


def write(cohort, kind=Kind.UNIT_UNLOCKED, subject="week-0", ids=None):
    """Write an effect's rows through the outbox (as effects do); return its email rows."""
    ids = list(learners(cohort).values()) if ids is None else ids
    outbox_write(
        kind=kind,
        cohort_id=cohort.pk,
        enrollment_ids=ids,
        subject=subject,
        effective_at=PINNED_NOW,
        payload={"title": subject.title()},
    )
    return Notification.objects.filter(kind=kind, subject=subject, channel=Channel.EMAIL)


def test_each_preference_gives_its_state_on_each_channel(make_cohort):
    # given four learners: no preference, immediately, digest, off (for unit unlocked, by email and in-app)
    cohort = make_cohort(learners=("none@x.org", "now@x.org", "digest@x.org", "off@x.org"))
    ids = learners(cohort)
    for email, mode in (
        ("now@x.org", Mode.IMMEDIATELY),
        ("digest@x.org", Mode.DIGEST),
        ("off@x.org", Mode.OFF),
    ):
        for channel in (Channel.EMAIL, Channel.INAPP, Channel.CHAT):
            Preference.objects.create(
                enrollment_id=ids[email], kind=Kind.UNIT_UNLOCKED, channel=channel, mode=mode
            )
    # and a preference for another kind, which must not count
    Preference.objects.create(
        enrollment_id=ids["none@x.org"], kind=Kind.REMINDER, channel=Channel.EMAIL, mode=Mode.OFF
    )

    def decide(channel):
        got = policy.initial(
            kind=Kind.UNIT_UNLOCKED, channel=channel, enrollment_ids=ids.values(), now=PINNED_NOW
        )
        return {email: got[pk] for email, pk in ids.items()}

    # when the policy decides at 13:00 Lagos time (outside any quiet hours)
    # then email: immediately -> pending, digest -> held for the digest, off -> suppressed
    assert decide(Channel.EMAIL) == {
        "none@x.org": Decision(Status.PENDING),
        "now@x.org": Decision(Status.PENDING),
        "digest@x.org": Decision(Status.HELD, Hold.DIGEST),
        "off@x.org": Decision(Status.SUPPRESSED),
    }
    # and chat the same, except that the digest is an email: a chat row set to "digest" (a row made before
    # that choice was refused) goes out as usual rather than waiting for a digest that never lists it
    assert decide(Channel.CHAT) == {
        "none@x.org": Decision(Status.PENDING),
        "now@x.org": Decision(Status.PENDING),
        "digest@x.org": Decision(Status.PENDING),
        "off@x.org": Decision(Status.SUPPRESSED),
    }
    # and in-app rows are delivered by being written (a digest preference shows them in the feed too)
    assert decide(Channel.INAPP) == {
        "none@x.org": Decision(Status.SENT),
        "now@x.org": Decision(Status.SENT),
        "digest@x.org": Decision(Status.SENT),
        "off@x.org": Decision(Status.SUPPRESSED),
    }


def test_written_rows_start_in_their_decided_state(make_cohort):
    # given ada turned unit-unlocked emails off and bob wants them in the digest
    cohort = make_cohort()
    ids = learners(cohort)
    Preference.objects.create(
        enrollment_id=ids["ada@example.com"], kind=Kind.UNIT_UNLOCKED, channel="email", mode=Mode.OFF
    )
    Preference.objects.create(
        enrollment_id=ids["bob@example.com"], kind=Kind.UNIT_UNLOCKED, channel="email", mode=Mode.DIGEST
    )
    # when the unlock writes its rows and the sweep runs
    email_rows = write(cohort)
    outbox_sweep()
    # then nobody got an email; ada's is suppressed, bob's waits for his digest
    assert mail.outbox == []
    assert {r.enrollment.email: (r.status, r.hold_reason) for r in email_rows} == {
        "ada@example.com": (Status.SUPPRESSED, ""),
        "bob@example.com": (Status.HELD, Hold.DIGEST),
    }


# Lagos is UTC+1 all year. 23:30 local is 22:30 UTC.
LAGOS_2330 = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


def test_reminders_wait_out_the_default_quiet_hours_across_midnight(make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    [ada] = learners(cohort).values()

    # when a reminder, an unlock and an in-app reminder are decided at 23:30 local
    def decide(kind, channel, now):
        return policy.initial(kind=kind, channel=channel, enrollment_ids=[ada], now=now)[ada]

    # then the reminder email is held until 07:00 local the next morning (06:00 UTC)
    next_morning = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    assert decide(Kind.REMINDER, Channel.EMAIL, LAGOS_2330) == Decision(
        Status.HELD, Hold.QUIET_HOURS, next_morning
    )
    assert decide(Kind.REMINDER, Channel.CHAT, LAGOS_2330) == Decision(
        Status.HELD, Hold.QUIET_HOURS, next_morning
    )
    # and after midnight (02:00 local) until 07:00 the same day
    assert (
        decide(Kind.REMINDER, Channel.EMAIL, datetime(2026, 12, 2, 1, 0, tzinfo=UTC)).not_before
        == next_morning
    )
    # and by default only reminders wait; in-app is never held
    assert decide(Kind.UNIT_UNLOCKED, Channel.EMAIL, LAGOS_2330) == Decision(Status.PENDING)
    assert decide(Kind.REMINDER, Channel.INAPP, LAGOS_2330) == Decision(Status.SENT)
    # and at 07:00 and at 21:59 local the quiet hours are over / not begun
    assert decide(Kind.REMINDER, Channel.EMAIL, next_morning) == Decision(Status.PENDING)
    assert decide(Kind.REMINDER, Channel.EMAIL, datetime(2026, 12, 1, 20, 59, tzinfo=UTC)) == Decision(
        Status.PENDING
    )


def test_quiet_hours_are_in_the_learners_own_zone_over_the_cohorts(make_cohort):
    # given a Lagos cohort with kim, who lives in Kolkata (UTC+5:30)
    cohort = make_cohort(learners=("ada@example.com",))
    kim = enrollment_create(cohort=cohort, email="kim@example.com", timezone="Asia/Kolkata")
    ids = learners(cohort)
    # when a reminder is decided at 17:00 UTC: 18:00 in Lagos, 22:30 in Kolkata
    got = policy.initial(
        kind=Kind.REMINDER,
        channel="email",
        enrollment_ids=ids.values(),
        now=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
    )
    # then only kim's waits, until 07:00 in Kolkata (01:30 UTC)
    assert got[ids["ada@example.com"]] == Decision(Status.PENDING)
    assert got[kim.pk] == Decision(Status.HELD, Hold.QUIET_HOURS, datetime(2026, 12, 2, 1, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("now", "end", "until"),
    [
        # spring forward (2027-03-14, 02:00 EST -> 03:00 EDT): 07:00 EDT is 11:00 UTC, not 12:00
        (datetime(2027, 3, 14, 4, 0, tzinfo=UTC), time(7, 0), datetime(2027, 3, 14, 11, 0, tzinfo=UTC)),
        # an end inside the skipped hour (02:30) moves forward by the gap: 03:30 EDT
        (datetime(2027, 3, 14, 4, 0, tzinfo=UTC), time(2, 30), datetime(2027, 3, 14, 7, 30, tzinfo=UTC)),
        # fall back (2027-11-07, 02:00 EDT -> 01:00 EST): 07:00 EST is 12:00 UTC
        (datetime(2027, 11, 7, 3, 0, tzinfo=UTC), time(7, 0), datetime(2027, 11, 7, 12, 0, tzinfo=UTC)),
        # an end at the repeated 01:30 takes its first occurrence (EDT, 05:30 UTC)
        (datetime(2027, 11, 7, 3, 0, tzinfo=UTC), time(1, 30), datetime(2027, 11, 7, 5, 30, tzinfo=UTC)),
    ],
)
def test_quiet_hours_end_at_the_right_instant_across_dst(make_cohort, now, end, until):
    # given a New York learner in a Lagos cohort, with quiet hours 22:00-<end> for every kind
    cohort = make_cohort(learners=())
    ny = enrollment_create(cohort=cohort, email="ny@example.com", timezone="America/New_York")
    QuietHours.objects.create(enrollment=ny, start=time(22, 0), end=end, kinds=[])
    # when an unlock email is decided during the night of a DST change
    got = policy.initial(kind=Kind.UNIT_UNLOCKED, channel="email", enrollment_ids=[ny.pk], now=now)[ny.pk]
    # then it is held until the end of the quiet hours, as the wall clock there shows it
    assert got == Decision(Status.HELD, Hold.QUIET_HOURS, until)


def test_own_quiet_hours_hold_the_kinds_they_name(make_cohort):
    # given ada's quiet hours 09:00-17:00 for unit unlocks only (Lagos)
    cohort = make_cohort(learners=("ada@example.com",))
    [ada] = learners(cohort).values()
    QuietHours.objects.create(enrollment_id=ada, start=time(9), end=time(17), kinds=[Kind.UNIT_UNLOCKED])
    # when decided at 13:00 local: an unlock waits until 17:00 local; a reminder (not named) does not
    unlock = policy.initial(kind=Kind.UNIT_UNLOCKED, channel="email", enrollment_ids=[ada], now=PINNED_NOW)
    reminder = policy.initial(kind=Kind.REMINDER, channel="email", enrollment_ids=[ada], now=PINNED_NOW)
    assert unlock[ada] == Decision(Status.HELD, Hold.QUIET_HOURS, datetime(2026, 12, 1, 16, 0, tzinfo=UTC))
    assert reminder[ada] == Decision(Status.PENDING)
    # and a preference of "digest" wins over quiet hours (it goes out at 18:00 anyway)
    Preference.objects.create(enrollment_id=ada, kind=Kind.UNIT_UNLOCKED, channel="email", mode=Mode.DIGEST)
    unlock = policy.initial(kind=Kind.UNIT_UNLOCKED, channel="email", enrollment_ids=[ada], now=PINNED_NOW)
    assert unlock[ada] == Decision(Status.HELD, Hold.DIGEST)


def test_the_sweep_sends_a_held_row_once_its_quiet_hours_end(make_cohort):
    # given a reminder written at 23:30 Lagos time
    cohort = make_cohort(learners=("ada@example.com",))
    with time_machine.travel(LAGOS_2330, tick=False):
        [row] = write(cohort, kind=Kind.REMINDER, subject="p0:1d")
        # when the sweep runs during the night, nothing goes out
        assert outbox_sweep().sent == 0
    row.refresh_from_db()
    assert (row.status, row.hold_reason) == (Status.HELD, Hold.QUIET_HOURS)
    assert mail.outbox == []
    # when the sweep runs at 06:59 local, still nothing; at 07:00 local it is sent
    with time_machine.travel(datetime(2026, 12, 2, 5, 59, tzinfo=UTC), tick=False):
        assert outbox_sweep().sent == 0
    with time_machine.travel(datetime(2026, 12, 2, 6, 0, tzinfo=UTC), tick=False):
        assert outbox_sweep().sent == 1
    row.refresh_from_db()
    assert (row.status, row.hold_reason) == (Status.SENT, "")
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_the_eleventh_email_of_the_hour_is_held_for_the_digest(make_cohort, settings):
    settings.NEXUS_NOTIFY_HOURLY_CAP = 10
    # given eleven unlock emails for ada and one for bob
    cohort = make_cohort()
    ids = learners(cohort)
    for n in range(11):
        write(cohort, subject=f"unit-{n:02d}", ids=[ids["ada@example.com"]])
    write(cohort, subject="unit-00", ids=[ids["bob@example.com"]])
    # when the sweep sends them (one batch)
    done = outbox_sweep()
    # then ada got ten and her eleventh is held (cap) for the digest; bob got his
    assert done.sent == 11
    assert sorted(m.to[0] for m in mail.outbox).count("ada@example.com") == 10
    held = Notification.objects.get(status=Status.HELD, channel=Channel.EMAIL)
    assert (held.enrollment_id, held.hold_reason, held.subject, held.lease_until) == (
        ids["ada@example.com"],
        Hold.CAP,
        "unit-10",
        None,
    )
    # when another arrives 59 minutes later, it is held too (ten in the last hour)
    with time_machine.travel(PINNED_NOW + timedelta(minutes=59), tick=False):
        write(cohort, subject="late-1", ids=[ids["ada@example.com"]])
        assert outbox_sweep().sent == 0
    # and one an hour and a minute later goes out
    with time_machine.travel(PINNED_NOW + timedelta(minutes=61), tick=False):
        write(cohort, subject="late-2", ids=[ids["ada@example.com"]])
        assert outbox_sweep().sent == 1
    assert set(Notification.objects.filter(status=Status.HELD).values_list("subject", flat=True)) == {
        "unit-10",
        "late-1",
    }


def test_the_cap_leaves_in_app_rows_and_other_channels_alone(make_cohort, settings):
    settings.NEXUS_NOTIFY_HOURLY_CAP = 1
    cohort = make_cohort(learners=("ada@example.com",))
    [ada] = learners(cohort).values()
    rows = list(write(cohort, subject="a")) + list(write(cohort, subject="b"))
    Notification.objects.update(status=Status.SENDING)
    for row in rows:
        row.status = Status.SENDING
    chat = Notification(
        kind=Kind.UNIT_UNLOCKED,
        cohort=cohort,
        enrollment_id=ada,
        subject="c",
        effective_at=PINNED_NOW,
        channel=Channel.CHAT,
        status=Status.SENDING,
    )
    chat.save()
    kept = policy.hold_over_cap([*rows, chat], PINNED_NOW)
    # one email goes (cap 1 and none sent yet); the chat row is not counted or held
    assert [r.subject for r in kept] == ["a", "c"]


def test_the_decision_for_ten_thousand_learners_costs_two_queries(make_cohort, django_assert_num_queries):
    # given a cohort of 10,000 learners (written in bulk), a few with preferences and quiet hours
    cohort = make_cohort(learners=())
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"l{n}@x.org", email=f"l{n}@x.org") for n in range(10_000)
    )
    Enrollment.objects.bulk_create(Enrollment(cohort=cohort, user=u, email=u.email) for u in users)
    ids = list(cohort.enrollments.values_list("pk", flat=True))
    Preference.objects.create(enrollment_id=ids[0], kind=Kind.REMINDER, channel="email", mode=Mode.OFF)
    QuietHours.objects.create(enrollment_id=ids[1], start=time(12), end=time(14), kinds=[])
    # when the policy decides a reminder for all of them: one query for preferences, one for zones and
    # quiet hours
    with django_assert_num_queries(2):
        got = policy.initial(kind=Kind.REMINDER, channel="email", enrollment_ids=ids, now=PINNED_NOW)
    # then each learner has a decision
    assert len(got) == 10_000
    assert got[ids[0]] == Decision(Status.SUPPRESSED)
    assert got[ids[1]].hold_reason == Hold.QUIET_HOURS
    assert sum(d.status == Status.PENDING for d in got.values()) == 9_998


def test_only_the_learners_asked_about_are_decided(make_cohort):
    # given two cohorts whose learners' ids interleave, the other cohort's learner with unlocks off and
    # quiet hours all day
    first = make_cohort(name="First", learners=("a1@x.org",))
    second = make_cohort(name="Second", learners=("b1@x.org",))
    enrollment_create(cohort=first, email="a2@x.org")
    other = second.enrollments.get()
    Preference.objects.create(enrollment=other, kind=Kind.UNIT_UNLOCKED, channel="email", mode=Mode.OFF)
    QuietHours.objects.create(enrollment=other, start=time(0), end=time(23, 59), kinds=[])
    ids = list(first.enrollments.values_list("pk", flat=True))
    assert min(ids) < other.pk < max(ids)
    # when the first cohort's unlock is decided
    got = policy.initial(kind=Kind.UNIT_UNLOCKED, channel="email", enrollment_ids=ids, now=PINNED_NOW)
    # then exactly its learners are decided, each pending
    assert got == dict.fromkeys(ids, Decision(Status.PENDING))
    # and ids far apart (an IN list rather than a range) give the same answer
    far = [ids[0], ids[1] + 100_000]
    got = policy.initial(kind=Kind.UNIT_UNLOCKED, channel="email", enrollment_ids=far, now=PINNED_NOW)
    assert got == {ids[0]: Decision(Status.PENDING), far[1]: Decision(Status.PENDING)}


def test_a_rehearsal_keeps_no_quiet_hours_and_no_cap(make_cohort, settings):
    settings.NEXUS_NOTIFY_HOURLY_CAP = 2
    # given a rehearsal cohort (a week played in minutes) whose reminder falls at 23:30 Lagos time
    cohort = make_cohort(learners=("ada@example.com",), speed=1000)
    [ada] = learners(cohort).values()
    got = policy.initial(kind=Kind.REMINDER, channel="email", enrollment_ids=[ada], now=LAGOS_2330)
    # then it is not held for the night
    assert got[ada] == Decision(Status.PENDING)
    # and three emails in a row all go out, past a cap of two
    for n in range(3):
        write(cohort, subject=f"unit-{n}")
    assert outbox_sweep().sent == 3
    assert not Notification.objects.filter(status=Status.HELD).exists()
