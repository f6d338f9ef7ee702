"""A cohort's calendar in Beat: materialisation, zones, validation, edits, pause/resume, delete."""

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from cohorts import services
from cohorts.models import Cohort
from programs.services import program_load

pytestmark = pytest.mark.django_db


def entry(cohort, key):
    return PeriodicTask.objects.select_related("clocked").get(name=f"cohort-{cohort.pk}:{key}")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_calendar_tests_run_at_the_pinned_now_before_their_2027_dates(pinned_now, make_cohort):
    # given the clock pinned for every calendar test (tests/cohorts/conftest.py), whatever today's date is
    assert pinned_now == utc(2026, 12, 1, 12, 0) == timezone.now() == datetime.now(tz=UTC)
    assert time.time() == pinned_now.timestamp()
    # when a cohort starting 2027-01-04 is created
    cohort = make_cohort()
    # then the services see every one of its events ahead, so Beat has each of them armed
    assert all(e.fire_at > pinned_now for e in cohort.events.all())
    assert all(
        PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:").values_list("enabled", flat=True)
    )


def test_creating_a_cohort_puts_every_event_into_beat_as_a_one_off(make_cohort):
    # given the small program (3 units, 2 projects, reminders 1d and 1h)
    # when a cohort is created in Lagos (UTC+1) starting Monday 2027-01-04
    cohort = make_cohort()
    # then each event has a one-off clocked entry named cohort-<id>:<kind>:<subject>
    keys = set(cohort.events.values_list("key", flat=True))
    assert keys == {
        "unlock:week-0",
        "unlock:week-1",
        "unlock:capstone",
        "open:p0",
        "remind:p0:1d",
        "remind:p0:1h",
        "due:p0",
        "close:p0",
        "open:demo",
        "remind:demo:1d",
        "remind:demo:1h",
        "due:demo",
        "close:demo",
    }
    unlock = entry(cohort, "unlock:week-0")
    assert unlock.one_off
    assert unlock.enabled
    assert unlock.task == "nexus.calendar.fire_event"
    assert unlock.queue is None  # the queue is the task's routing (tasks/), not the entry's
    assert unlock.clocked.clocked_time == utc(2027, 1, 4, 8, 0)  # 09:00 WAT
    assert entry(cohort, "due:p0").clocked.clocked_time == utc(2027, 1, 8, 16, 0)
    assert entry(cohort, "remind:p0:1h").clocked.clocked_time == utc(2027, 1, 8, 15, 0)
    # anchored on demo_day 2027-01-29: due the day before at 18:00 local
    assert entry(cohort, "due:demo").clocked.clocked_time == utc(2027, 1, 28, 17, 0)
    assert PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:").count() == len(keys)


@pytest.mark.parametrize(
    ("zone", "start", "unlock", "expected"),
    [
        # spring forward: 02:30 does not exist on 2027-03-14 in New York -> 03:30 EDT
        ("America/New_York", date(2027, 3, 8), "day 6 02:30", utc(2027, 3, 14, 7, 30)),
        # fall back: 01:30 happens twice on 2027-11-07 -> the first one (EDT)
        ("America/New_York", date(2027, 11, 1), "day 6 01:30", utc(2027, 11, 7, 5, 30)),
        ("Europe/London", date(2027, 3, 22), "day 6 01:30", utc(2027, 3, 28, 1, 30)),  # gap -> 02:30 BST
        ("Europe/London", date(2027, 10, 25), "day 6 01:30", utc(2027, 10, 31, 0, 30)),  # first, BST
        ("Africa/Lagos", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 4, 8, 0)),
        ("Asia/Kolkata", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 4, 3, 30)),
        ("Asia/Kathmandu", date(2027, 1, 4), "day 0 09:00", utc(2027, 1, 4, 3, 15)),
        # Lord Howe moves its clocks by 30 minutes: 02:15 on 2027-10-03 does not exist -> 02:45 (+11)
        ("Australia/Lord_Howe", date(2027, 9, 27), "day 6 02:15", utc(2027, 10, 2, 15, 45)),
        ("Australia/Lord_Howe", date(2027, 3, 29), "day 6 01:45", utc(2027, 4, 3, 14, 45)),  # first (+11)
        ("Pacific/Auckland", date(2027, 9, 20), "day 6 02:30", utc(2027, 9, 25, 14, 30)),  # gap -> 03:30 NZDT
        ("Pacific/Auckland", date(2027, 3, 29), "day 6 02:30", utc(2027, 4, 3, 13, 30)),  # first (NZDT)
    ],
)
def test_local_times_become_the_right_utc_instant_in_beat(db, zone, start, unlock, expected):
    # given a one-unit program unlocking at a local time that may fall in a DST gap or overlap
    program = program_load(
        data={"slug": "tz", "name": "TZ", "units": [{"key": "u", "title": "U", "unlock": unlock}]},
        source="tz.yaml",
    ).program
    # when a cohort in that zone is created
    cohort = services.cohort_create(program=program, name=f"{zone} {start}", start_date=start, timezone=zone)
    # then Beat's entry fires at the instant the rule gives (gap: forward by the gap; overlap: first)
    assert entry(cohort, "unlock:u").clocked.clocked_time == expected


def test_an_unknown_timezone_is_refused_naming_the_field(small_program):
    with pytest.raises(ValidationError) as error:
        services.cohort_create(
            program=small_program,
            name="Mars",
            start_date=date(2027, 1, 4),
            timezone="Mars/Olympus",
            anchors={"demo_day": "2027-01-29"},
        )
    assert "timezone" in error.value.message_dict
    assert "Mars/Olympus" in error.value.message_dict["timezone"][0]
    assert not Cohort.objects.exists()
    assert not PeriodicTask.objects.filter(name__startswith="cohort-").exists()


def test_a_missing_anchor_is_refused_naming_it(small_program):
    with pytest.raises(ValidationError) as error:
        services.cohort_create(
            program=small_program, name="No demo", start_date=date(2027, 1, 4), timezone="Africa/Lagos"
        )
    assert "demo_day" in error.value.message_dict["anchors"][0]


def test_an_event_before_the_cohort_starts_is_refused(small_program):
    # given a start on a Wednesday: week 0's Monday unlock would fall before it
    with pytest.raises(ValidationError) as error:
        services.cohort_create(
            program=small_program,
            name="Wed",
            start_date=date(2027, 1, 6),
            timezone="Africa/Lagos",
            anchors={"demo_day": "2027-01-29"},
        )
    assert "before the cohort starts on 2027-01-06" in error.value.message_dict["start_date"][0]


def test_an_anchor_that_closes_a_window_before_it_opens_is_refused(small_program):
    # given demo_day in week 1: the demo window (opens week 2) would close before it opens
    with pytest.raises(ValidationError) as error:
        services.cohort_create(
            program=small_program,
            name="Early demo",
            start_date=date(2027, 1, 4),
            timezone="Africa/Lagos",
            anchors={"demo_day": "2027-01-13"},
        )
    assert "project 'demo': the window closes" in error.value.message_dict["anchors"][0]


def test_editing_the_start_moves_every_entry(make_cohort):
    cohort = make_cohort()
    before = entry(cohort, "unlock:week-0").clocked.clocked_time
    # when the start moves a week later (demo day too)
    services.cohort_update(cohort=cohort, start_date=date(2027, 1, 11), anchors={"demo_day": "2027-02-05"})
    # then every entry moved by a week
    assert entry(cohort, "unlock:week-0").clocked.clocked_time == before + timedelta(weeks=1)
    assert entry(cohort, "due:demo").clocked.clocked_time == utc(2027, 2, 4, 17, 0)


def test_editing_an_anchor_resyncs_only_the_events_counted_from_it(make_cohort):
    cohort = make_cohort()
    untouched = {
        t.name: (t.pk, t.clocked.clocked_time)
        for t in PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:").select_related(
            "clocked"
        )
    }
    # when demo_day moves a day later
    cohort.anchors = {"demo_day": "2027-01-30"}
    cohort.save()
    report = services.cohort_calendar_sync(cohort=cohort)
    # then only the anchored events (due, close, and the due's two reminders) changed in Beat
    assert report.beat.updated == 4
    assert report.beat.created == report.beat.deleted == 0
    after = {
        t.name: (t.pk, t.clocked.clocked_time)
        for t in PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:").select_related(
            "clocked"
        )
    }
    moved = {name for name in after if after[name] != untouched[name]}
    prefix = f"cohort-{cohort.pk}:"
    assert moved == {prefix + k for k in ("due:demo", "close:demo", "remind:demo:1d", "remind:demo:1h")}
    # and a second sync with nothing changed touches nothing
    assert services.cohort_calendar_sync(cohort=cohort).beat.changed == 0


def test_changing_the_timezone_moves_entries(make_cohort):
    cohort = make_cohort()
    services.cohort_update(cohort=cohort, timezone="Asia/Kolkata")
    assert entry(cohort, "unlock:week-0").clocked.clocked_time == utc(2027, 1, 4, 3, 30)


def test_an_override_moves_one_event_for_this_cohort_only(make_cohort):
    cohort = make_cohort()
    other = make_cohort(name="Other", learners=())
    event = cohort.events.get(key="open:p0")
    # when staff move the opening two hours later
    services.cohort_event_move(event=event, at=utc(2027, 1, 4, 10, 0))
    # then its entry moved; the other cohort's did not
    assert entry(cohort, "open:p0").clocked.clocked_time == utc(2027, 1, 4, 10, 0)
    assert entry(other, "open:p0").clocked.clocked_time == utc(2027, 1, 4, 8, 0)
    # and a re-sync keeps the override
    services.cohort_update(cohort=cohort, name="Lagos renamed")
    assert entry(cohort, "open:p0").clocked.clocked_time == utc(2027, 1, 4, 10, 0)
    # and clearing it goes back to the template
    services.cohort_event_move(event=cohort.events.get(key="open:p0"), at=None)
    assert entry(cohort, "open:p0").clocked.clocked_time == utc(2027, 1, 4, 8, 0)


def test_an_override_that_closes_a_window_before_it_opens_is_refused(make_cohort):
    cohort = make_cohort()
    event = cohort.events.get(key="close:p0")
    with pytest.raises(ValidationError) as error:
        services.cohort_event_move(event=event, at=utc(2027, 1, 4, 7, 0))
    assert "override_at" in error.value.message_dict
    # and nothing moved
    assert entry(cohort, "close:p0").clocked.clocked_time == utc(2027, 1, 11, 8, 0)


def test_pause_disables_and_resume_reenables_only_future_entries(make_cohort):
    cohort = make_cohort()
    services.cohort_pause(cohort=cohort)
    assert not PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:", enabled=True).exists()
    # when it resumes while week 0 is already past
    services.cohort_resume(cohort=cohort, now=utc(2027, 1, 10, 0, 0))
    enabled = set(
        PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:", enabled=True).values_list(
            "name", flat=True
        )
    )
    prefix = f"cohort-{cohort.pk}:"
    assert prefix + "unlock:week-1" in enabled
    assert prefix + "close:p0" in enabled
    assert prefix + "unlock:week-0" not in enabled  # past: the reconciler's job
    assert prefix + "due:p0" not in enabled


def test_deleting_a_cohort_removes_its_entries_and_schedules(make_cohort):
    cohort = make_cohort()
    keep = make_cohort(name="Keep", learners=())
    clocked_before = ClockedSchedule.objects.count()
    services.cohort_delete(cohort=cohort)
    assert not PeriodicTask.objects.filter(name__startswith=f"cohort-{cohort.pk}:").exists()
    assert PeriodicTask.objects.filter(name__startswith=f"cohort-{keep.pk}:").count() == 13
    assert ClockedSchedule.objects.count() == clocked_before - 13


def test_a_rehearsal_plays_the_calendar_faster(make_cohort):
    now = utc(2026, 6, 1, 12, 0)
    cohort = make_cohort(name="Rehearsal", speed=7 * 24 * 3600 / 60, now=now)  # a week a minute
    epoch = cohort.rehearsal_epoch
    week_1 = cohort.events.get(key="unlock:week-1")
    # week 1 Monday 09:00 is 7 days + 9 h after day 0 00:00 local: 1 minute + 3.21 s of real time
    assert abs((week_1.fire_at - epoch).total_seconds() - (60 + 9 * 3600 / 10080)) < 0.01
    assert entry(cohort, "unlock:week-1").clocked.clocked_time == week_1.fire_at
    assert week_1.scheduled_at == utc(2027, 1, 11, 8, 0)  # the calendar itself is unchanged


def test_a_resync_does_not_rearm_an_entry_beat_already_sent(make_cohort):
    cohort = make_cohort()
    name = f"cohort-{cohort.pk}:unlock:week-0"
    # given Beat sent the one-off (and disabled it) but no worker has carried it out yet
    PeriodicTask.objects.filter(name=name).update(enabled=False, total_run_count=1)
    # when something else re-syncs the calendar
    services.cohort_update(cohort=cohort, name="Renamed")
    # then the entry stays as Beat left it; moving it re-arms it
    assert PeriodicTask.objects.get(name=name).enabled is False
    services.cohort_event_move(event=cohort.events.get(key="unlock:week-0"), at=utc(2027, 1, 4, 10, 0))
    task = PeriodicTask.objects.get(name=name)
    assert task.enabled is True
    assert task.total_run_count == 0
