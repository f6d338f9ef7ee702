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

    # then one error lists them all, each with its file, item and field
    lines = str(excinfo.value).splitlines()
    assert lines[0] == f"{path}: 4 problem(s):"
    assert lines[1].startswith("  - units[0] (week-00): unknown field 'unlcok'")
    assert lines[2] == "  - units[0] (week-00): field 'unlock' is required"
    assert lines[3].startswith(
        "  - units[1] (week-01) projects[0] (airbnb-database-schema): field 'due': "
        "'week 1 fry 23:59' is not a relative date"
    )
    assert "unknown weekday 'fry'" in lines[3]
    assert lines[4].startswith(
        "  - units[12] (project-nexus) projects[0] (project-nexus): field 'grace': 'a while' is not a duration"
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
