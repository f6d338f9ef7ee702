"""manage.py program_load / program_export: what they print, how they refuse bad files, and that a reloaded
program moves its cohorts' calendars and Beat entries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from cohorts.models import CohortEvent
from cohorts.services import cohort_create
from config import BASE_DIR
from programs.models import Program, Unit
from programs.services import parse_program, program_export
from tests.factories import ProgramFactory

SHIPPED = BASE_DIR / "platform" / "programs" / "data" / "prodev-backend.yaml"
SHIPPED_COUNTS = "(13 units, 62 content, 14 projects)"


def load(path: Path | str) -> str:
    out = StringIO()
    call_command("program_load", str(path), stdout=out)
    return out.getvalue()


def shipped_data() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of the file that holds ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


# --- program_load -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_program_load_says_created_then_unchanged():
    # given an empty database

    # when the shipped program is loaded twice
    first = load(SHIPPED)
    second = load(SHIPPED)

    # then the first run creates it and the second finds nothing to do
    assert first == f"program 'prodev-backend' created {SHIPPED_COUNTS}; 0 cohort calendar(s) re-synced\n"
    assert second == f"program 'prodev-backend' unchanged {SHIPPED_COUNTS}; 0 cohort calendar(s) re-synced\n"


@pytest.mark.django_db
def test_program_load_says_updated_after_an_edit(tmp_path):
    # given the shipped program, loaded
    load(SHIPPED)

    # when a copy with one renamed unit is loaded
    data = shipped_data()
    data["units"][2]["title"] = "Week 2: SQL, renamed"
    output = load(write(tmp_path / "edited.yaml", data))

    # then it reports an update
    assert output.startswith(f"program 'prodev-backend' updated {SHIPPED_COUNTS}")
    assert Unit.objects.get(key="week-02").title == "Week 2: SQL, renamed"


@pytest.mark.django_db
def test_program_load_refuses_a_missing_file(tmp_path):
    # given a path with no file
    path = tmp_path / "nowhere.yaml"

    # when / then
    with pytest.raises(CommandError, match=rf"^{path}: no such file$"):
        load(path)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text",
    [
        "slug: mini\nname: Mini\nunits:\n\t- key: week-00\n",
        "slug: mini\nanchors: [demo_day\nname: Mini\n",
        "slug: mini\nname: 'unclosed\n",
    ],
    ids=["tab", "unclosed-bracket", "unclosed-quote"],
)
def test_program_load_refuses_invalid_yaml(tmp_path, text):
    # given a file that is not YAML
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then the error names the file, says what is wrong and where (YAML gives the line)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: not valid YAML: ")
    assert "line " in message
    assert not Program.objects.exists()


@pytest.mark.django_db
def test_program_load_refuses_a_file_that_is_not_utf8(tmp_path):
    # given a Latin-1 file
    path = tmp_path / "latin1.yaml"
    path.write_bytes("slug: mini\nname: Café\n".encode("latin-1"))

    # when / then
    with pytest.raises(CommandError, match=rf"^{path}: not UTF-8 text"):
        load(path)


@pytest.mark.django_db
def test_program_load_refuses_a_file_over_two_mebibytes(tmp_path):
    # given a valid program file padded with comments to one byte over 2 MiB
    path = tmp_path / "huge.yaml"
    text = SHIPPED.read_text(encoding="utf-8")
    padding = 2 * 1024 * 1024 + 1 - len(text.encode("utf-8"))
    path.write_text(text + "#" * (padding - 1) + "\n", encoding="utf-8")
    assert path.stat().st_size == 2 * 1024 * 1024 + 1

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then it is refused before being read, and nothing is stored
    assert str(excinfo.value) == (
        f"{path}: 2097153 bytes is more than a program file may hold (2097152 bytes)"
    )
    assert not Program.objects.exists()


@pytest.mark.django_db
def test_program_load_accepts_a_file_of_exactly_two_mebibytes(tmp_path):
    # given the shipped file padded to exactly the limit
    path = tmp_path / "big.yaml"
    text = SHIPPED.read_text(encoding="utf-8")
    padding = 2 * 1024 * 1024 - len(text.encode("utf-8"))
    path.write_text(text + "#" * (padding - 1) + "\n", encoding="utf-8")

    # when / then
    assert "created" in load(path)


@pytest.mark.django_db
def test_program_load_lists_every_validation_problem(tmp_path):
    # given the shipped file with three mistakes in different places
    data = shipped_data()
    data["units"][0]["unlcok"] = data["units"][0].pop("unlock")
    data["units"][1]["projects"][0]["due"] = "week 1 fry 23:59"
    data["units"][12]["projects"][0]["grace"] = "a while"
    path = write(tmp_path / "bad.yaml", data)

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then one error lists them all, each with its file, line, item and field
    lines = str(excinfo.value).splitlines()
    assert lines[0] == f"{path}: 4 problem(s):"
    assert lines[1].startswith(
        f"  - {path}:{line_of(path, 'unlcok:')}: units[0] (week-00): unknown field 'unlcok'"
    )
    # a missing field is placed at the start of its item
    assert (
        lines[2]
        == f"  - {path}:{line_of(path, '- key: week-00')}: units[0] (week-00): field 'unlock' is required"
    )
    assert lines[3].startswith(
        f"  - {path}:{line_of(path, 'due: week 1 fry 23:59')}: "
        "units[1] (week-01) projects[0] (airbnb-database-schema): field 'due': "
        "'week 1 fry 23:59' is not a relative date"
    )
    assert "unknown weekday 'fry'" in lines[3]
    assert lines[4].startswith(
        f"  - {path}:{line_of(path, 'grace: a while')}: "
        "units[12] (project-nexus) projects[0] (project-nexus): field 'grace': 'a while' is not a duration"
    )
    assert not Program.objects.exists()


# --- program_export ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_program_export_writes_the_program_file_to_stdout():
    # given the shipped program, loaded
    load(SHIPPED)

    # when it is exported to stdout
    out = StringIO()
    call_command("program_export", "prodev-backend", stdout=out)

    # then stdout is YAML that says exactly what the shipped file says
    exported = yaml.safe_load(out.getvalue())
    assert exported == program_export(program=Program.objects.get(slug="prodev-backend"))
    assert parse_program(exported, source="stdout") == parse_program(shipped_data(), source="shipped")


@pytest.mark.django_db
def test_program_export_to_a_file_loads_back_unchanged(tmp_path):
    # given the shipped program, loaded
    load(SHIPPED)
    path = tmp_path / "export.yaml"

    # when it is exported with --output and that file is loaded
    out, err = StringIO(), StringIO()
    call_command("program_export", "prodev-backend", "--output", str(path), stdout=out, stderr=err)
    output = load(path)

    # then the file was written (stdout stays clean) and loading it changes nothing
    assert out.getvalue() == ""
    assert err.getvalue() == f"wrote {path}\n"
    assert output.startswith(f"program 'prodev-backend' unchanged {SHIPPED_COUNTS}")


@pytest.mark.django_db
def test_program_export_refuses_an_unwritable_output(tmp_path):
    # given the shipped program, and an output in a folder that does not exist
    load(SHIPPED)
    path = tmp_path / "missing" / "export.yaml"

    # when / then
    with pytest.raises(CommandError, match=rf"^{path}: cannot write: "):
        call_command("program_export", "prodev-backend", "--output", str(path))


@pytest.mark.django_db
def test_program_export_of_an_unknown_slug_lists_the_known_ones():
    # given two programs
    ProgramFactory(slug="beta")
    ProgramFactory(slug="alpha")

    # when / then
    with pytest.raises(CommandError, match=r"^no program 'gamma' \(known: alpha, beta\)$"):
        call_command("program_export", "gamma")


@pytest.mark.django_db
def test_program_export_with_no_programs_says_none_are_loaded():
    # when / then
    with pytest.raises(CommandError, match=r"^no program 'gamma' \(known: none loaded\)$"):
        call_command("program_export", "gamma")


# --- cohorts follow a reloaded program --------------------------------------------------------------------


def _cohort(program: Program):
    # Starts 2027-01-04: a test that makes one pins the clock before it (pinned_now), so the cohort's
    # events are all still ahead and Beat's entries stay enabled whatever today's date is.
    return cohort_create(
        program=program,
        name="Lagos 2027",
        start_date=date(2027, 1, 4),
        timezone="Africa/Lagos",
        anchors={"demo_day": "2027-04-30"},
    )


def _unlock_of(cohort, unit_key: str) -> tuple[datetime, datetime, datetime]:
    event = CohortEvent.objects.get(cohort=cohort, key=f"unlock:{unit_key}")
    task = PeriodicTask.objects.select_related("clocked").get(name=f"cohort-{cohort.pk}:unlock:{unit_key}")
    return event.scheduled_at, event.fire_at, task.clocked.clocked_time


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_now")
def test_program_load_moves_the_cohort_calendar_and_its_beat_entry(tmp_path):
    # given the shipped program and a cohort starting Monday 4 January 2027 in Lagos (UTC+1, no DST)
    load(SHIPPED)
    cohort = _cohort(Program.objects.get(slug="prodev-backend"))
    # week 3 mon 09:00 is Monday 25 January, 09:00 in Lagos, 08:00 UTC
    was = datetime(2027, 1, 25, 8, 0, tzinfo=UTC)
    assert _unlock_of(cohort, "week-03") == (was, was, was)

    # when a file moving week 3's unlock to Tuesday 10:30 is loaded
    data = shipped_data()
    assert data["units"][3]["key"] == "week-03"
    data["units"][3]["unlock"] = "week 3 tue 10:30"
    output = load(write(tmp_path / "edited.yaml", data))

    # then the cohort's event and its Beat entry moved to Tuesday 26 January, 09:30 UTC
    assert output.endswith("; 1 cohort calendar(s) re-synced\n")
    now = datetime(2027, 1, 26, 9, 30, tzinfo=UTC)
    assert _unlock_of(cohort, "week-03") == (now, now, now)
    task = PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:unlock:week-03")
    assert task.enabled is True
    assert task.one_off is True
    # and the other units did not move
    assert _unlock_of(cohort, "week-04")[0] == datetime(2027, 2, 1, 8, 0, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_now")
def test_program_load_drops_the_events_and_beat_entries_of_a_removed_unit(tmp_path):
    # given the shipped program and a cohort
    load(SHIPPED)
    cohort = _cohort(Program.objects.get(slug="prodev-backend"))
    prefix = f"cohort-{cohort.pk}:"
    assert PeriodicTask.objects.filter(name=f"{prefix}unlock:week-11").exists()

    # when a file without week 11 is loaded
    data = shipped_data()
    removed = data["units"].pop(11)
    assert removed["key"] == "week-11"
    load(write(tmp_path / "edited.yaml", data))

    # then week 11's unlock and project window are gone from the calendar and from Beat
    project = removed["projects"][0]["key"]
    assert not CohortEvent.objects.filter(cohort=cohort, subject__in=["week-11", project]).exists()
    assert not PeriodicTask.objects.filter(name__startswith=f"{prefix}unlock:week-11").exists()
    assert not PeriodicTask.objects.filter(name__contains=f":{project}").exists()
    assert set(PeriodicTask.objects.filter(name__startswith=prefix).values_list("name", flat=True)) == {
        f"{prefix}{key}" for key in CohortEvent.objects.filter(cohort=cohort).values_list("key", flat=True)
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_now")
def test_program_load_refuses_an_edit_a_cohort_calendar_cannot_take_and_changes_nothing(tmp_path):
    # given the shipped program and a cohort
    load(SHIPPED)
    cohort = _cohort(Program.objects.get(slug="prodev-backend"))
    before = _unlock_of(cohort, "week-00")

    # when a file puts week 0's unlock a week before the cohort starts
    data = shipped_data()
    data["units"][0]["unlock"] = "week -1 mon 09:00"
    with pytest.raises(CommandError) as excinfo:
        load(write(tmp_path / "early.yaml", data))

    # then the error says why, and neither the program nor the cohort's calendar changed
    message = str(excinfo.value)
    assert "a cohort's calendar refuses it, nothing was changed" in message
    assert "unlock:week-00 falls on 2026-12-28 09:00 WAT, before the cohort starts on 2027-01-04" in message
    assert Unit.objects.get(key="week-00").unlock == "week 0 mon 09:00"
    assert _unlock_of(cohort, "week-00") == before


# --- bad files that used to crash or hang -----------------------------------------------------------------


def shipped_text() -> str:
    return SHIPPED.read_text(encoding="utf-8")


def edited_shipped(path: Path, *edits: tuple[str, str]) -> Path:
    """The shipped file with each (old, new) replaced once, and week 0's unlock moved to Tuesday so a
    refused load that still wrote something would show."""
    text = shipped_text().replace("    unlock: week 0 mon 09:00\n", "    unlock: week 0 tue 09:00\n", 1)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path


def loaded_with_a_cohort():
    """The shipped program, loaded, with a cohort whose calendar a wrong reload would move."""
    load(SHIPPED)
    cohort = _cohort(Program.objects.get(slug="prodev-backend"))
    return cohort, _unlock_of(cohort, "week-00")


def assert_nothing_changed(cohort, unlock_before) -> None:
    assert Program.objects.count() == 1
    assert Unit.objects.get(key="week-00").unlock == "week 0 mon 09:00"
    assert _unlock_of(cohort, "week-00") == unlock_before


BILLION_LAUGHS = """\
slug: prodev-backend
name: Laughs
lol0: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
lol1: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
lol2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
lol3: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
lol4: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
lol5: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
lol6: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
lol7: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
lol8: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
units: [*i, *i, *i, *i, *i, *i, *i, *i, *i, *i]
"""


@pytest.mark.django_db
def test_program_load_refuses_yaml_anchors_and_aliases_before_expanding_them(tmp_path):
    # given the shipped program and a cohort, and a few hundred bytes of nested aliases (10**10 "lol"s)
    cohort, before = loaded_with_a_cohort()
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then it is refused at the first anchor, naming the file and the line, and nothing changed
    assert str(excinfo.value) == (
        f"{path}:3: YAML anchor '&a' is not allowed in a program file; write the value out in full"
    )
    assert_nothing_changed(cohort, before)


@pytest.mark.django_db
def test_program_load_refuses_a_yaml_alias_even_inside_a_valid_program(tmp_path):
    # given the shipped file where one project's dates reuse another's through an anchor and an alias
    path = edited_shipped(
        tmp_path / "alias.yaml",
        ("        due: week 0 fri 23:59\n", "        due: &due week 0 fri 23:59\n"),
    )

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then the anchor's line is named, and nothing is stored
    assert str(excinfo.value) == (
        f"{path}:{line_of(path, '&due')}: YAML anchor '&due' is not allowed in a program file; "
        "write the value out in full"
    )
    assert not Program.objects.exists()


@pytest.mark.django_db
def test_program_load_refuses_a_key_given_twice_in_one_mapping(tmp_path):
    # given the shipped program and a cohort, and a file where one project has two 'due:' lines
    cohort, before = loaded_with_a_cohort()
    path = edited_shipped(
        tmp_path / "twice.yaml",
        ("        due: week 0 fri 23:59\n", "        due: week 0 fri 23:59\n        due: week 0 sat 12:00\n"),
    )

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then the error names the file, the second line and the key, instead of keeping the last one silently
    first = line_of(path, "due: week 0 fri 23:59")
    assert str(excinfo.value) == (
        f"{path}:{first + 1}: key 'due' is given twice in one mapping (first on line {first})"
    )
    assert_nothing_changed(cohort, before)
    assert Program.objects.get().projects.get(key="airbnb-clone-blueprint").due == "week 0 fri 23:59"


@pytest.mark.django_db
def test_program_load_refuses_reminders_that_are_one_offset_twice(tmp_path):
    # given the shipped program and a cohort, and a file whose first project reminds at 1d and at 24h
    cohort, before = loaded_with_a_cohort()
    path = edited_shipped(
        tmp_path / "reminders.yaml",
        ("        grace: 2h\n", "        grace: 2h\n        reminders: [1d, 24h]\n"),
    )

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then the file, line, item and field are named (it used to load, then break the calendar), nothing changed
    assert str(excinfo.value).splitlines() == [
        f"{path}: 1 problem(s):",
        (
            f"  - {path}:{line_of(path, 'reminders: [1d, 24h]')}: "
            "units[0] (week-00) projects[0] (airbnb-clone-blueprint): field 'reminders': "
            "'24h' is the same offset as '1d'; give each reminder once"
        ),
    ]
    assert_nothing_changed(cohort, before)


@pytest.mark.django_db
def test_program_load_refuses_durations_longer_than_9999_days_once_a_cohort_exists(tmp_path):
    # given the shipped program and a cohort, and a file with a huge reminder and a huge grace
    cohort, before = loaded_with_a_cohort()
    path = edited_shipped(
        tmp_path / "huge.yaml",
        ("        grace: 2h\n", "        grace: 10000d\n        reminders: [999999d]\n"),
    )

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then each is refused with its file, line and field (999999d used to overflow the calendar's dates)
    where = "units[0] (week-00) projects[0] (airbnb-clone-blueprint)"
    assert str(excinfo.value).splitlines() == [
        f"{path}: 2 problem(s):",
        (
            f"  - {path}:{line_of(path, 'grace: 10000d')}: {where}: field 'grace': "
            "'10000d' is longer than 9999 days, the longest duration a program may use"
        ),
        (
            f"  - {path}:{line_of(path, 'reminders: [999999d]')}: {where}: field 'reminders': "
            "'999999d' is longer than 9999 days, the longest duration a program may use"
        ),
    ]
    assert_nothing_changed(cohort, before)


@pytest.mark.django_db
def test_program_load_lists_the_first_50_problems_and_counts_the_rest(tmp_path):
    # given a file of 60 units that all lack a title
    units = "".join(f"  - key: u-{n:02d}\n    unlock: week 0 mon 09:00\n" for n in range(60))
    path = tmp_path / "many.yaml"
    path.write_text(f"slug: many\nname: Many\nunits:\n{units}", encoding="utf-8")

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then 50 are listed, each with its file and line, and the other 10 are counted
    lines = str(excinfo.value).splitlines()
    assert lines[0] == f"{path}: 60 problem(s):"
    assert lines[1:51] == [
        f"  - {path}:{4 + 2 * n}: units[{n}] (u-{n:02d}): field 'title' is required" for n in range(50)
    ]
    assert lines[51:] == ["  ... and 10 more problem(s)"]
    assert not Program.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ("units: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 64 levels deep"),
        ("description: 2027-13-45\n", "'2027-13-45' cannot be read: month must be in 1..12"),
        ("description: " + "9" * 5000 + "\n", f"'{'9' * 40}...' cannot be read: Exceeds the limit"),
    ],
    ids=["nested-100000-deep", "impossible-date", "5000-digit-integer"],
)
def test_program_load_refuses_yaml_python_cannot_build(tmp_path, tail, reason):
    # given a file that is valid YAML but would end in a RecursionError or a ValueError while being built
    path = tmp_path / "odd.yaml"
    path.write_text(f"slug: odd\nname: Odd\n{tail}", encoding="utf-8")

    # when it is loaded
    with pytest.raises(CommandError) as excinfo:
        load(path)

    # then it is a clear error naming the file and the line, and nothing is stored
    assert str(excinfo.value).startswith(f"{path}:3: {reason}")
    assert not Program.objects.exists()
