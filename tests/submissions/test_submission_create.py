"""submission_create: a refusal quotes the window's times as the learner's cohort reads them."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cohorts import effects
from submissions.services import SubmissionRefused, submission_create

pytestmark = pytest.mark.django_db

WEEK_A_MINUTE = 7 * 24 * 60  # seconds of calendar per real second


def submit(cohort, *, email="ada@example.com", project="p0", sha="abc1234"):
    out = StringIO()
    call_command(
        "submission_create",
        "--cohort",
        cohort.name,
        "--email",
        email,
        "--project",
        project,
        "--repository",
        f"https://github.com/ada/{project}",
        "--sha",
        sha,
        stdout=out,
    )
    return out.getvalue()


def open_window(cohort, key="open:p0"):
    event = cohort.events.get(key=key)
    effects.calendar_event_fire(cohort_id=cohort.pk, key=key, now=event.fire_at)


def test_a_window_not_open_yet_gives_its_opening_in_the_cohorts_zone(make_cohort):
    # given a Lagos cohort whose p0 window opens Monday 2027-01-04 09:00 local (08:00 UTC)
    cohort = make_cohort()

    # when a learner submits before it opens
    with pytest.raises(CommandError) as error:
        submit(cohort)

    # then the time is the cohort's wall-clock time, labelled with its zone, and no rehearsal talk
    message = str(error.value)
    assert (
        "--project: The window for 'p0' is not open yet; it opens 2027-01-04 09:00 WAT (Africa/Lagos)."
        in message
    )
    assert "real time" not in message


def test_a_rehearsal_gives_the_real_local_instant_beside_the_calendar_one(make_cohort, pinned_now):
    # given a rehearsal playing a week a minute, its clock starting 5 s after the pinned now
    cohort = make_cohort(speed=WEEK_A_MINUTE)
    assert cohort.rehearsal_epoch == pinned_now + timedelta(seconds=5)

    with pytest.raises(CommandError) as error:
        submit(cohort)

    # then 2027-01-04 09:00 on the calendar is 9 calendar hours in: 3.2 real seconds after the epoch,
    # 2026-12-01 12:00:08 UTC, which Lagos (UTC+1) shows as 13:00:08
    assert (
        "it opens 2027-01-04 09:00 WAT (Africa/Lagos) on the rehearsal's calendar, "
        "at 2026-12-01 13:00:08 WAT real time." in str(error.value)
    )


def test_a_rehearsal_past_its_cutoff_gives_both_instants_of_the_cutoff(make_cohort, pinned_now):
    # given a rehearsal whose p0 window opened
    cohort = make_cohort(speed=WEEK_A_MINUTE)
    open_window(cohort)
    enrollment = cohort.enrollments.get(email="ada@example.com")

    # when a submission comes 70 real seconds after the epoch (65 s of play: 7 days 14 h into the
    # calendar; the cut-off is week 1 mon 09:00, 7 days 9 h after day 0 00:00 local)
    with pytest.raises(SubmissionRefused, match="closed at its cut-off") as error:
        submission_create(
            enrollment=enrollment,
            project=cohort.program.projects.get(key="p0"),
            repository_url="https://github.com/ada/p0",
            commit_sha="abc1234",
            now=cohort.rehearsal_epoch + timedelta(seconds=70),
        )

    # then the cut-off is given on the calendar and in real time: 60 + 3.2 s after the epoch
    assert (
        "closed at its cut-off 2027-01-11 09:00 WAT (Africa/Lagos) on the rehearsal's calendar, "
        "at 2026-12-01 13:01:08 WAT real time; ask staff for an extension." in str(error.value)
    )


def test_a_cohort_in_a_zone_with_dst_names_the_offset_in_force(make_cohort):
    # given a New York cohort; the p0 window of week 0 opens before the spring-forward night
    cohort = make_cohort(
        name="NYC", start=date(2027, 3, 8), timezone="America/New_York", demo_day="2027-03-26"
    )

    with pytest.raises(CommandError) as error:
        submit(cohort)

    assert "it opens 2027-03-08 09:00 EST (America/New_York)." in str(error.value)
