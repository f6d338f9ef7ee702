"""cohort_create and calendar_show: what staff type, and the errors that tell them what to fix."""

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cohorts import effects
from cohorts.models import Cohort, CohortEvent
from config import BASE_DIR
from tests.conftest import process_env

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def create(*extra):
    return run(
        "cohort_create",
        "--program",
        "small",
        "--name",
        "NYC",
        "--start",
        "2027-03-08",
        "--timezone",
        "America/New_York",
        "--anchor",
        "demo_day=2027-03-26",
        *extra,
    )


def test_cohort_create_puts_the_calendar_into_beat(small_program):
    output = create()
    cohort = Cohort.objects.get(name="NYC")
    assert f"cohort 'NYC' (id {cohort.pk}) created with 13 calendar events in Beat" in output
    assert cohort.anchors == {"demo_day": "2027-03-26"}


def test_calendar_show_json_lists_each_event_with_local_utc_entry_and_state(small_program):
    create()
    rows = json.loads(run("calendar_show", "--cohort", "NYC", "--json"))
    assert len(rows) == 13
    first = rows[0]
    assert first["kind"] == "unlock"
    assert first["subject"] == "week-0"
    assert first["local"] == "2027-03-08T09:00-05:00"
    assert first["utc"] == "2027-03-08T14:00:00Z"
    assert first["beat_entry"] == f"cohort-{Cohort.objects.get().pk}:unlock:week-0"
    assert first["state"] == "scheduled"
    # after the spring-forward night (2027-03-14), local times carry the new offset
    week_1 = next(r for r in rows if r["subject"] == "week-1")
    assert week_1["local"] == "2027-03-15T09:00-04:00"
    assert week_1["utc"] == "2027-03-15T13:00:00Z"
    # in due order, a unit's unlock before its project opens
    assert [r["kind"] for r in rows[:2]] == ["unlock", "open"]


def test_calendar_show_text(small_program):
    create()
    output = run("calendar_show", "--cohort", "NYC")
    assert "NYC: Small program, starts 2027-03-08 (America/New_York), scheduled" in output
    assert "2027-03-08T09:00-05:00" in output


def test_calendar_show_text_has_a_header_the_fire_time_and_the_done_time(small_program):
    # given a cohort whose first event has been carried out
    create()
    cohort = Cohort.objects.get(name="NYC")
    first = cohort.events.get(key="unlock:week-0")
    effects.calendar_event_fire(cohort_id=cohort.pk, key="unlock:week-0", now=first.fire_at)

    # when staff show the calendar
    lines = run("calendar_show", "--cohort", "NYC").splitlines()

    # then a header names each column (the calendar's zone in the first), and each row lines up under it
    header = lines[1].split()
    assert header[:6] == ["CALENDAR", "(America/New_York)", "UTC", "FIRES", "DONE", "STATE"]
    assert lines[1].index("FIRES") == lines[2].index("2027-03-08T09:00:00-05:00")
    done_row = lines[2].split()
    assert done_row == [
        "2027-03-08T09:00-05:00",
        "2027-03-08T14:00:00Z",
        "2027-03-08T09:00:00-05:00",  # fires (real time, the cohort's zone)
        "2027-03-08T09:00:00-05:00",  # done
        "done",
        "unlock",
        "week-0",
    ]
    assert lines[3].split()[3] == "-"  # not done yet


def test_calendar_show_json_gives_done_at_and_outcome(small_program):
    create()
    cohort = Cohort.objects.get(name="NYC")
    first = cohort.events.get(key="unlock:week-0")
    effects.calendar_event_fire(cohort_id=cohort.pk, key="unlock:week-0", now=first.fire_at)

    rows = json.loads(run("calendar_show", "--cohort", "NYC", "--json"))

    assert rows[0]["done_at"] == "2027-03-08T14:00:00Z"
    assert rows[0]["outcome"] == "done"
    assert rows[1]["done_at"] is None
    assert rows[1]["outcome"] is None


def test_calendar_show_of_a_rehearsal_gives_the_real_fire_time(small_program, pinned_now):
    # given a rehearsal playing a week a minute, armed at the pinned now
    create("--speed", str(7 * 24 * 60))

    lines = run("calendar_show", "--cohort", "NYC").splitlines()

    # then the calendar says 2027-03-08 09:00 but Beat fires it 9 calendar hours in, 3.2 real seconds
    # after the rehearsal's clock starts (5 s after it was created)
    assert "rehearsal x10080" in lines[0]
    assert "FIRES (real)" in lines[1]
    row = lines[2].split()
    assert row[0] == "2027-03-08T09:00-05:00"
    real = Cohort.objects.get().local(pinned_now + timedelta(seconds=5 + 9 * 3600 / 10080))
    assert row[2] == real.isoformat(timespec="seconds") == "2026-12-01T07:00:08-05:00"


@pytest.mark.usefixtures("transactional_db")
def test_calendar_show_piped_into_head_stops_quietly(make_cohort):
    # given a calendar far longer than a pipe holds (so the writer is still writing when head exits)
    cohort = make_cohort(learners=())
    first = cohort.events.order_by("fire_at").first()
    CohortEvent.objects.bulk_create(
        CohortEvent(
            cohort=cohort,
            program_id=cohort.program_id,
            key=f"unlock:bulk-{i:05d}",
            kind=CohortEvent.Kind.UNLOCK,
            subject=f"bulk-{i:05d}",
            scheduled_at=first.at + timedelta(minutes=i),
            fire_at=first.fire_at + timedelta(minutes=i),
        )
        for i in range(4000)
    )

    # when a real process's output is piped into a real `head -n 2`
    show = subprocess.Popen(
        [sys.executable, "manage.py", "calendar_show", "--cohort", cohort.name],
        cwd=BASE_DIR,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.Popen(["head", "-n", "2"], stdin=show.stdout, stdout=subprocess.PIPE)
    show.stdout.close()  # only head reads it now, so its exit breaks the pipe
    shown, _ = head.communicate(timeout=60)
    errors = show.stderr.read().decode()
    show.stderr.close()
    show.wait(timeout=60)

    # then head got the title and the header, and the command left no traceback behind
    assert shown.decode().splitlines()[0].startswith("Lagos: Small program")
    assert "CALENDAR (Africa/Lagos)" in shown.decode().splitlines()[1]
    assert errors == ""
    assert show.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone: 'Mars/Olympus' is not an IANA time zone"),
        (["--start", "2027-02-30"], "--start: '2027-02-30' is not a date"),
        (["--anchor", "demo_day"], "--anchor 'demo_day': write NAME=YYYY-MM-DD"),
        (["--anchor", "demo_day=soon"], "'soon' is not a date"),
        (["--program", "nope"], "--program: no program 'nope' (known: small)"),
        (["--speed", "0.5"], "--speed: must be at least 1"),
        (["--speed", "nan"], "--speed: 'nan' is not a finite number"),
        (["--speed", "inf"], "--speed: 'inf' is not a finite number"),
        (
            ["--start", "2027-03-10"],
            "--start: unlock:week-0 falls on 2027-03-08 09:00 EST, before the cohort starts",
        ),
        (["--anchor", "demo_day=2027-03-10"], "--anchor: project 'demo': the window closes"),
        (
            ["--anchor", "kickoff=2027-03-20"],
            (
                "--anchor kickoff=2027-03-20: program 'small' declares no anchor 'kickoff' "
                "(it declares: demo_day)"
            ),
        ),
        (
            ["--anchor", "demo_day=2027-03-05"],
            (
                "--anchor demo_day=2027-03-05: project 'demo' is due 2027-03-04 18:00 EST "
                "(demo_day: day -1 18:00), before the cohort starts on 2027-03-08; give demo_day a later date"
            ),
        ),
    ],
)
def test_cohort_create_names_the_flag_to_fix(small_program, args, message):
    base = {
        "--program": "small",
        "--name": "Bad",
        "--start": "2027-03-08",
        "--timezone": "America/New_York",
        "--anchor": "demo_day=2027-03-26",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = [item for pair in base.items() for item in pair]
    with pytest.raises(CommandError) as error:
        run("cohort_create", *argv)
    assert message in str(error.value)
    if args[0] == "--anchor":
        assert "--start:" not in str(error.value)  # the anchor is what to fix, not the start
    assert not Cohort.objects.filter(name="Bad").exists()


def test_cohort_create_names_a_name_already_taken(small_program):
    # given a cohort named NYC
    create()

    # when another is created with the same name
    with pytest.raises(CommandError) as error:
        create()

    # then the flag and the name are named, and the first cohort is the only one
    assert "--name: a cohort named 'NYC' already exists" in str(error.value)
    assert list(Cohort.objects.values_list("name", flat=True)) == ["NYC"]


def test_calendar_show_unknown_cohort(small_program):
    with pytest.raises(CommandError, match="no cohort named 'Nope'"):
        run("calendar_show", "--cohort", "Nope")


def test_demo_seed_recreates_the_rehearsal_cohort(db):
    run("demo_seed")
    first = Cohort.objects.get(name="Demo rehearsal")
    assert first.speed == pytest.approx(10080)
    assert first.enrollments.count() == 4
    assert first.start_date.weekday() == 0
    run("demo_seed")
    assert list(Cohort.objects.values_list("name", flat=True)) == ["Demo rehearsal"]
    assert Cohort.objects.get().pk != first.pk


def test_submission_create_accepts_inside_the_window_and_refuses_outside(make_cohort):
    from cohorts import effects

    cohort = make_cohort()
    args = [
        "--cohort",
        "Lagos",
        "--email",
        "ada@example.com",
        "--project",
        "p0",
        "--repository",
        "https://github.com/ada/p0",
        "--sha",
        "abc1234",
    ]
    # before the window opened
    with pytest.raises(CommandError, match="--project: The window for 'p0' is not open yet"):
        run("submission_create", *args)
    event = cohort.events.get(key="open:p0")
    effects.calendar_event_fire(cohort_id=cohort.pk, key="open:p0", now=event.fire_at)
    # the window is open (the calendar is in 2027; the pinned "now", 2026-12-01, is before the cut-off)
    assert "submitted p0 for ada@example.com at abc1234 (on time)" in run("submission_create", *args)
    with pytest.raises(CommandError, match="--sha: A commit SHA is 7 to 40"):
        run("submission_create", *args[:-1], "xyz")
    with pytest.raises(CommandError, match="--email: eve@example.com is not a learner"):
        run("submission_create", *args[:3], "eve@example.com", *args[4:])
