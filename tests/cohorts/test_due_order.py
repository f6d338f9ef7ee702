"""Items 5 and 11: within a cohort, events are carried out in due order whichever path runs them; a
rehearsal judges "early" in calendar time."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from cohorts import effects, services
from cohorts.models import Release
from notifications.models import Notification
from submissions.models import WindowTransition

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_firing_an_event_first_carries_out_the_cohorts_earlier_due_events_in_order(make_cohort):
    cohort = make_cohort()
    # when Beat's entry for the window's close runs first (a re-armed entry after a resume, or one of
    # many overdue messages taken by another worker process)
    outcome = effects.calendar_event_fire(cohort_id=cohort.pk, key="close:p0", now=utc(2027, 1, 11, 8, 0))
    # then every earlier event of the cohort ran before it, in due order
    assert outcome.status == "done"
    transitions = WindowTransition.objects.filter(cohort=cohort).order_by("pk")
    assert list(transitions.values_list("kind", flat=True)) == ["open", "due", "close"]
    assert Release.objects.filter(cohort=cohort, unit__key="week-0").exists()
    first_kinds = list(dict.fromkeys(Notification.objects.order_by("pk").values_list("kind", flat=True)))
    assert first_kinds == ["unit_unlocked", "window_opened", "due_passed", "window_closed"]
    # and week 1's unlock, at the same instant as the close but after it in due order, also ran
    # (unlock before close within one instant) - while events after that instant did not
    assert cohort.events.get(key="unlock:week-1").outcome == "done"
    assert cohort.events.get(key="unlock:capstone").done_at is None


def test_after_a_resume_a_rearmed_event_does_not_overtake_older_missed_ones(make_cohort, settings):
    settings.NEXUS_REARM_WINDOW = 60
    cohort = make_cohort()
    # given a cohort paused over its first week, resumed 30 s after its due
    services.cohort_pause(cohort=cohort)
    resume_at = utc(2027, 1, 8, 16, 0, 30)
    with time_machine.travel(resume_at, tick=False):
        services.cohort_resume(cohort=cohort)
    # then only the due (within the re-arm window) is armed in Beat; when it fires at once ...
    effects.calendar_event_fire(cohort_id=cohort.pk, key="due:p0", now=resume_at)
    # ... the window is recorded opened before it is recorded due (this recorded due, then opened)
    kinds = list(WindowTransition.objects.filter(cohort=cohort).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["open", "due"]


def test_a_stale_message_in_a_rehearsal_is_judged_early_in_calendar_time(make_cohort):
    # given a rehearsal playing a week a minute
    start = utc(2026, 11, 30, 9, 0)  # a Monday
    with time_machine.travel(start, tick=False):
        cohort = make_cohort(name="Rehearsal", start=start.date(), demo_day="2026-12-25", speed=7 * 24 * 60)
    event = cohort.events.get(key="unlock:week-1")
    stale_fire_at = event.fire_at
    # when staff move the unlock three calendar hours later (about 1 s of real time)
    services.cohort_event_move(event=event, at=event.at + timedelta(hours=3))
    # then the message Beat sent for the old time does nothing: 3 calendar hours is early
    outcome = effects.calendar_event_fire(cohort_id=cohort.pk, key="unlock:week-1", now=stale_fire_at)
    assert outcome.status == "early"
    assert cohort.events.get(key="unlock:week-1").done_at is None
    # and at its new real instant it runs
    moved = cohort.events.get(key="unlock:week-1")
    assert (
        effects.calendar_event_fire(cohort_id=cohort.pk, key="unlock:week-1", now=moved.fire_at).status
        == "done"
    )
