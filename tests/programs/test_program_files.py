"""Program files through the loader service: the shipped program, idempotent reloads, edits, round trips,
and bad input refused with the file, the item and the field named, leaving the stored program untouched."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ValidationError

from config import BASE_DIR
from programs.files import program_file_parse
from programs.models import ContentItem, Program, Project, Unit
from programs.services import ProgramFileError, parse_program, program_export, program_load
from tests.factories import ProgramFactory, ProjectFactory, UnitFactory

SHIPPED = BASE_DIR / "platform" / "programs" / "data" / "prodev-backend.yaml"

MINI = {
    "slug": "mini",
    "name": "Mini program",
    "anchors": ["demo_day"],
    "defaults": {"reminders": ["1d", "1h"]},
    "units": [
        {
            "key": "week-00",
            "title": "Week 0: Start",
            "unlock": "week 0 mon 09:00",
            "content": [{"key": "intro", "title": "Intro", "body": "Read me first"}],
            "projects": [
                {
                    "key": "p0",
                    "title": "Project 0",
                    "opens": "week 0 mon 09:00",
                    "due": "week 0 fri 17:00",
                    "cutoff": "week 1 mon 09:00",
                    "grace": "2h",
                }
            ],
        },
        {
            "key": "week-01",
            "title": "Week 1: More",
            "unlock": "week 1 mon 09:00",
            "projects": [
                {
                    "key": "x",
                    "title": "Project X",
                    "opens": "week 1 mon 09:00",
                    "due": "week 1 fri 17:00",
                    "cutoff": "week 2 mon 09:00",
                    "grace": "2h",
                    "reminders": ["2d", "1h"],
                }
            ],
        },
        {
            "key": "capstone",
            "title": "Capstone",
            "unlock": "week 2 mon 09:00",
            "content": [{"key": "brief", "title": "Brief"}],
            "projects": [
                {
                    "key": "demo",
                    "title": "Demo",
                    "opens": "week 2 mon 09:00",
                    "due": "demo_day: day -1 18:00",
                    "cutoff": "demo_day: day 0 09:00",
                }
            ],
        },
    ],
}


def mini() -> dict:
    return copy.deepcopy(MINI)


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_file(path: Path):
    return program_load(data=yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))


def snapshot(slug: str) -> dict[str, list[dict]]:
    """Every stored row of a program, ids and updated_at included, to tell whether anything was written."""
    program = Program.objects.get(slug=slug)
    return {
        "program": list(Program.objects.filter(pk=program.pk).values()),
        "units": list(Unit.objects.filter(program=program).order_by("pk").values()),
        "content": list(ContentItem.objects.filter(unit__program=program).order_by("pk").values()),
        "projects": list(Project.objects.filter(program=program).order_by("pk").values()),
    }


# --- the shipped program ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_loading_the_shipped_program_creates_every_unit_project_and_content_item():
    # given the ProDev Backend program file that ships with Nexus

    # when it is loaded
    result = load_file(SHIPPED)

    # then the whole 16-week program is stored, in file order
    program = result.program
    assert result.created is True
    assert result.changed is True
    assert result.counts == {"units": 13, "content": 62, "projects": 14}
    assert (program.slug, program.name) == ("prodev-backend", "ProDev Backend Engineering")
    assert program.anchors == ["demo_day"]
    assert program.default_reminders == ["1d", "1h"]  # 24h is stored in its canonical form
    assert program.units.count() == 13
    assert program.projects.count() == 14
    assert ContentItem.objects.filter(unit__program=program).count() == 62
    titles = list(program.units.values_list("title", flat=True))
    assert titles[0] == "Week 0: The Airbnb Clone Project Blueprint"
    assert titles[3].startswith("Week 3: Advanced Python: ")
    assert titles[-1] == "Week 12-16: Project Nexus"
    assert list(program.units.values_list("position", flat=True)) == list(range(13))
    blueprint = program.projects.get(key="airbnb-clone-blueprint")
    assert (blueprint.unit.key, blueprint.opens, blueprint.due, blueprint.cutoff, blueprint.grace) == (
        "week-00",
        "week 0 mon 09:00",
        "week 0 fri 23:59",
        "week 1 mon 09:00",
        timedelta(hours=2),
    )
    assert blueprint.reminder_offsets() == ["1d", "1h"]


@pytest.mark.django_db
def test_loading_the_same_file_twice_reports_unchanged_and_writes_no_row():
    # given the shipped program, loaded once
    load_file(SHIPPED)
    before = snapshot("prodev-backend")

    # when the same file is loaded again
    result = load_file(SHIPPED)

    # then it says so and no row changed: same ids, same values, same updated_at
    assert (result.created, result.changed) == (False, False)
    assert result.counts == {"units": 13, "content": 62, "projects": 14}
    assert snapshot("prodev-backend") == before


@pytest.mark.django_db
def test_export_then_load_round_trips_and_changes_nothing(tmp_path):
    # given the shipped program, loaded
    program = load_file(SHIPPED).program
    before = snapshot("prodev-backend")

    # when it is exported to a file and that file is loaded
    exported = program_export(program=program)
    result = load_file(write(tmp_path / "exported.yaml", exported))

    # then the load is a no-op, and the file says exactly what the original says
    assert (result.created, result.changed) == (False, False)
    assert snapshot("prodev-backend") == before
    original = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    assert parse_program(exported, source="exported") == parse_program(original, source="original")
    assert program_export(program=Program.objects.get(slug="prodev-backend")) == exported


@pytest.mark.django_db
def test_export_keeps_project_reminders_and_an_explicit_empty_list(tmp_path):
    # given a program whose projects override the default reminders, one of them with none at all
    data = mini()
    data["units"][0]["projects"][0]["reminders"] = []
    program = load_file(write(tmp_path / "mini.yaml", data)).program

    # when it is exported
    exported = program_export(program=program)

    # then "no reminders" and "the program's defaults" stay different things
    projects = {p["key"]: p for unit in exported["units"] for p in unit["projects"]}
    assert projects["p0"]["reminders"] == []
    assert projects["x"]["reminders"] == ["2d", "1h"]
    assert "reminders" not in projects["demo"]
    assert Project.objects.get(key="demo").reminder_offsets() == ["1d", "1h"]


# --- edits ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_edited_due_date_updates_the_project_in_place(tmp_path):
    # given the mini program, loaded
    path = write(tmp_path / "mini.yaml", mini())
    load_file(path)
    before = snapshot("mini")
    project = Project.objects.get(key="x")

    # when the file moves project x's due date and is loaded again
    data = mini()
    data["units"][1]["projects"][0]["due"] = "week 1 sat 12:00"
    result = load_file(write(path, data))

    # then the same row now holds the new date, and nothing else changed
    assert (result.created, result.changed) == (False, True)
    project.refresh_from_db()
    assert project.due == "week 1 sat 12:00"
    after = snapshot("mini")
    assert [row["id"] for row in after["projects"]] == [row["id"] for row in before["projects"]]
    assert [row["id"] for row in after["units"]] == [row["id"] for row in before["units"]]
    assert after["units"] == before["units"]
    assert after["content"] == before["content"]
    changed = [
        (b["key"], a["due"]) for b, a in zip(before["projects"], after["projects"], strict=True) if a != b
    ]
    assert changed == [("x", "week 1 sat 12:00")]
    # and the program's updated_at tells that its file changed
    assert after["program"][0]["updated_at"] > before["program"][0]["updated_at"]


@pytest.mark.django_db
def test_a_project_moved_to_another_unit_keeps_its_row(tmp_path):
    # given the mini program, loaded
    path = write(tmp_path / "mini.yaml", mini())
    load_file(path)
    project_id = Project.objects.get(key="x").pk

    # when project x moves from week-01 to week-00 in the file
    data = mini()
    data["units"][0]["projects"].append(data["units"][1].pop("projects")[0])
    load_file(write(path, data))

    # then it is the same row, now under week-00
    project = Project.objects.get(key="x")
    assert project.pk == project_id
    assert project.unit.key == "week-00"


@pytest.mark.django_db
def test_a_unit_removed_from_the_file_is_deleted_with_its_content_and_projects(tmp_path):
    # given the mini program, loaded
    path = write(tmp_path / "mini.yaml", mini())
    load_file(path)
    kept_ids = set(Unit.objects.filter(key__in=["week-00", "week-01"]).values_list("pk", flat=True))

    # when the capstone unit is removed from the file
    data = mini()
    del data["units"][2]
    result = load_file(write(path, data))

    # then it is gone, with its content and its project, and the other units keep their rows
    assert result.changed is True
    assert result.counts == {"units": 2, "content": 1, "projects": 2}
    assert set(Unit.objects.filter(program__slug="mini").values_list("pk", flat=True)) == kept_ids
    assert not ContentItem.objects.filter(key="brief").exists()
    assert not Project.objects.filter(key="demo").exists()


@pytest.mark.django_db
def test_removed_content_is_deleted_and_reordered_content_keeps_its_rows(tmp_path):
    # given a unit with two content items, loaded
    data = mini()
    data["units"][0]["content"].append({"key": "setup", "title": "Setup"})
    path = write(tmp_path / "mini.yaml", data)
    load_file(path)
    setup_id = ContentItem.objects.get(key="setup").pk

    # when the first item is removed, so the second moves up
    del data["units"][0]["content"][0]
    load_file(write(path, data))

    # then only the remaining item is left, same row, first position
    items = list(ContentItem.objects.filter(unit__key="week-00").values_list("pk", "key", "position"))
    assert items == [(setup_id, "setup", 0)]


# --- bad input --------------------------------------------------------------------------------------------


def _set(path: tuple, value: object):
    def edit(data: dict) -> None:
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return edit


def _delete(path: tuple):
    def edit(data: dict) -> None:
        target = data
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return edit


def _rename_unlock(data: dict) -> None:
    data["units"][1]["unlcok"] = data["units"][1].pop("unlock")


X = ("units", 1, "projects", 0)
X_WHERE = "units[1] (week-01) projects[0] (x)"

BAD_FILES = [
    pytest.param(
        _set((*X, "due"), "week one fri 17:00"),
        f"{X_WHERE}: field 'due': 'week one fri 17:00' is not a relative date",
        id="malformed-relative-date",
    ),
    pytest.param(
        _set((*X, "due"), "week 1 fry 17:00"),
        f"{X_WHERE}: field 'due': 'week 1 fry 17:00' is not a relative date",
        id="unknown-weekday",
    ),
    pytest.param(
        _set(("units", 1, "unlock"), "week 1 mon 25:00"),
        "units[1] (week-01): field 'unlock': 'week 1 mon 25:00' is not a relative date",
        id="bad-clock-time",
    ),
    pytest.param(
        _set((*X, "cutoff"), "week 0 mon 09:00"),
        f"{X_WHERE}: field 'cutoff': the window closes (week 0 mon 09:00) before it opens (week 1 mon 09:00)",
        id="closes-before-opens",
    ),
    pytest.param(
        _set((*X, "due"), "week 2 tue 09:00"),
        f"{X_WHERE}: field 'due': due (week 2 tue 09:00) is after the cut-off (week 2 mon 09:00)",
        id="due-after-cutoff",
    ),
    pytest.param(
        _set((*X, "due"), "week 0 fri 17:00"),
        f"{X_WHERE}: field 'due': due (week 0 fri 17:00) is before the window opens (week 1 mon 09:00)",
        id="due-before-opens",
    ),
    pytest.param(_rename_unlock, "units[1] (week-01): unknown field 'unlcok'", id="unknown-field-typo"),
    pytest.param(
        _set(("units", 1, "key"), "week-00"),
        "units[1] (week-00): field 'key': 'week-00' is used by another unit",
        id="duplicate-unit-key",
    ),
    pytest.param(
        _set((*X, "key"), "p0"),
        "units[1] (week-01) projects[0] (p0): field 'key': 'p0' is used by another project",
        id="duplicate-project-key",
    ),
    pytest.param(
        lambda data: data["units"][0]["content"].append({"key": "intro", "title": "Again"}),
        "units[0] (week-00) content[1] (intro): field 'key': 'intro' is used twice in this unit",
        id="duplicate-content-key",
    ),
    pytest.param(
        _set((*X, "due"), "launch: day -1 18:00"),
        f"{X_WHERE}: field 'due': anchor 'launch' is not declared in the program's anchors",
        id="anchor-not-declared",
    ),
    pytest.param(
        _set((*X, "grace"), "2 hours"),
        f"{X_WHERE}: field 'grace': '2 hours' is not a duration",
        id="bad-grace",
    ),
    pytest.param(
        _set((*X, "reminders"), ["1d", "an hour"]),
        f"{X_WHERE}: field 'reminders': 'an hour' is not a duration",
        id="bad-reminder",
    ),
    pytest.param(
        _set((*X, "reminders"), "1d"),
        f"{X_WHERE}: field 'reminders' must be a list of durations",
        id="reminders-not-a-list",
    ),
    pytest.param(
        _set(("defaults", "reminders"), ["soon"]),
        "program: field 'defaults.reminders': 'soon' is not a duration",
        id="bad-default-reminder",
    ),
    pytest.param(_delete(("slug",)), "program: field 'slug' is required", id="missing-slug"),
    pytest.param(_delete(("name",)), "program: field 'name' is required", id="missing-name"),
    pytest.param(
        _delete(("units", 1, "title")),
        "units[1] (week-01): field 'title' is required",
        id="missing-unit-title",
    ),
    pytest.param(
        _set(("units", 1, "title"), "  "), "units[1] (week-01): field 'title' is required", id="blank"
    ),
    pytest.param(_delete((*X, "opens")), f"{X_WHERE}: field 'opens' is required", id="missing-opens"),
    pytest.param(
        _delete(("units", 1, "key")), "units[1] (?): field 'key' is required", id="missing-unit-key"
    ),
    pytest.param(
        _set(("units", 1, "key"), "Week 1"),
        "units[1] (Week 1): field 'key': 'Week 1' must use lowercase letters, digits and dashes",
        id="bad-key-format",
    ),
    pytest.param(
        _set(("slug",), "pro dev!"),
        "program: field 'slug': 'pro dev!' must use letters, digits, - and _",
        id="bad-slug",
    ),
    pytest.param(
        _set(("units", 1, "title"), "T" * 201),
        "units[1] (week-01): field 'title' has 201 characters, more than 200",
        id="title-too-long",
    ),
    pytest.param(
        _set(("units", 0, "content", 0, "title"), "C" * 201),
        "units[0] (week-00) content[0] (intro): field 'title' has 201 characters, more than 200",
        id="content-title-too-long",
    ),
    pytest.param(
        _set(("units", 1, "title"), ["a", "list"]),
        "units[1] (week-01): field 'title' must be text, not list",
        id="title-not-text",
    ),
    pytest.param(
        _set(("anchors",), ["Demo-Day"]),
        "program: field 'anchors': 'Demo-Day' must match [a-z][a-z0-9_]*",
        id="bad-anchor-name",
    ),
    pytest.param(
        _set(("units",), {"week-00": {}}),
        "program: field 'units' must be a list of mappings",
        id="units-mapping",
    ),
    pytest.param(
        _set(("defaults",), ["1d"]), "program: field 'defaults' must be a mapping", id="defaults-list"
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("edit", "problem"), BAD_FILES)
def test_a_bad_file_is_refused_naming_the_file_the_item_and_the_field(tmp_path, edit, problem):
    # given a program file with one mistake
    data = mini()
    edit(data)
    path = write(tmp_path / "bad.yaml", data)

    # when it is loaded
    with pytest.raises(ProgramFileError) as excinfo:
        load_file(path)

    # then the error names the file, the item and the field, and nothing was stored
    error = excinfo.value
    assert error.source == str(path)
    assert str(error).startswith(f"{path}: ")
    assert any(p.startswith(problem) for p in error.problems), error.problems
    assert not Program.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text",
    ["- slug: mini\n- name: Mini\n", "just a sentence\n", "", "42\n"],
    ids=["list", "text", "empty", "number"],
)
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path, text):
    # given a file whose top level is not a mapping
    path = tmp_path / "list.yaml"
    path.write_text(text, encoding="utf-8")

    # when it is loaded
    with pytest.raises(ProgramFileError) as excinfo:
        load_file(path)

    # then the error names the file and what a program file must be
    assert (
        str(excinfo.value)
        == f"{path}: 1 problem(s):\n  - the file must be a mapping with slug, name and units"
    )


@pytest.mark.django_db
def test_every_problem_of_a_file_is_listed_at_once(tmp_path):
    # given a file with three unrelated mistakes
    data = mini()
    _rename_unlock(data)
    data["units"][0]["projects"][0]["grace"] = "soon"
    data["units"][2]["projects"][0]["cutoff"] = "demo_day: day -2 09:00"
    path = write(tmp_path / "bad.yaml", data)

    # when it is loaded
    with pytest.raises(ProgramFileError) as excinfo:
        load_file(path)

    # then each one is reported, in file order
    problems = excinfo.value.problems
    assert [p.split(": field")[0].split(": unknown")[0] for p in problems] == [
        "units[0] (week-00) projects[0] (p0)",
        "units[1] (week-01)",
        "units[1] (week-01)",
        "units[2] (capstone) projects[0] (demo)",
    ]
    assert f"{path}: 4 problem(s):" in str(excinfo.value)


@pytest.mark.django_db
def test_a_failed_load_leaves_the_stored_program_untouched(tmp_path):
    # given the mini program, loaded
    path = write(tmp_path / "mini.yaml", mini())
    load_file(path)
    before = snapshot("mini")

    # when a later version renames things, drops a unit and has one mistake
    data = mini()
    data["name"] = "Renamed"
    del data["units"][2]
    data["units"][0]["title"] = "New title"
    data["units"][1]["projects"][0]["due"] = "week 9 mon 09:00"  # after the cut-off
    with pytest.raises(ProgramFileError):
        load_file(write(path, data))

    # then the database still holds the good version, row for row
    assert snapshot("mini") == before


@pytest.mark.django_db
def test_a_program_made_with_factories_exports_to_a_loadable_file(tmp_path):
    # given a program built row by row (as the admin would), with one unit
    program = ProgramFactory(slug="handmade", name="Handmade", anchors=[])
    UnitFactory(program=program, key="week-00", title="Week 0", position=0)

    # when its export is loaded back
    result = load_file(write(tmp_path / "handmade.yaml", program_export(program=program)))

    # then the loader finds nothing to change
    assert (result.created, result.changed) == (False, False)


# --- the admin path: model validation ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reminders", "message"),
    [
        (["1d", "24h"], "'24h' is the same offset as '1d'; give each reminder once."),
        (["90m", "1h30m"], "'1h30m' is the same offset as '90m'; give each reminder once."),
        (["10000d"], "'10000d' is longer than 9999 days"),
    ],
    ids=["1d-and-24h", "90m-and-1h30m", "too-long"],
)
def test_project_validation_refuses_reminders_the_calendar_cannot_hold(reminders, message):
    # given a project edited as the admin does, with reminders that are one offset twice or too long
    project = ProjectFactory.build(unit=UnitFactory(), reminders=reminders)

    # when it is validated
    with pytest.raises(ValidationError) as excinfo:
        project.full_clean()

    # then the reminders field is refused with the reason
    assert list(excinfo.value.message_dict) == ["reminders"]
    assert excinfo.value.message_dict["reminders"][0].startswith(message)


@pytest.mark.django_db
def test_program_validation_refuses_default_reminders_equal_after_normalising():
    # given a program whose default reminders are one offset written twice
    program = ProgramFactory.build(default_reminders=["1h", "60m"])

    # when / then
    with pytest.raises(ValidationError) as excinfo:
        program.full_clean()
    assert excinfo.value.message_dict["default_reminders"] == [
        "'60m' is the same offset as '1h'; give each reminder once."
    ]


@pytest.mark.django_db
def test_project_validation_refuses_a_grace_longer_than_9999_days():
    # given a project whose grace (a DurationField in the admin) is longer than any date arithmetic allows
    project = ProjectFactory.build(unit=UnitFactory(), grace=timedelta(days=10000))

    # when / then
    with pytest.raises(ValidationError) as excinfo:
        project.full_clean()
    assert excinfo.value.message_dict == {"grace": ["The grace period cannot be longer than 9999 days."]}


# --- reading a file: lines ---------------------------------------------------------------------------------


def test_parse_program_names_the_line_of_each_problem_when_the_data_comes_from_a_file():
    # given the mini program as a file's text, with a bad due date and a duplicate reminder
    data = mini()
    data["units"][1]["projects"][0]["due"] = "week 1 fry 17:00"
    data["units"][1]["projects"][0]["reminders"] = ["1d", "24h"]
    text = yaml.safe_dump(data, sort_keys=False)
    lines = text.splitlines()

    def line(fragment: str, after: int = 0) -> int:
        return next(n for n, content in enumerate(lines, start=1) if n > after and fragment in content)

    # when it is parsed by the file reader and checked
    with pytest.raises(ProgramFileError) as excinfo:
        parse_program(program_file_parse(text, source="mini.yaml"), source="mini.yaml")

    # then each problem starts with file:line, the line of the field at fault
    assert excinfo.value.problems[0].startswith(
        f"mini.yaml:{line('due: week 1 fry')}: {X_WHERE}: field 'due': 'week 1 fry 17:00' is not a relative date"
    )
    assert excinfo.value.problems[1] == (
        f"mini.yaml:{line('reminders:', after=line('due: week 1 fry'))}: {X_WHERE}: field 'reminders': "
        "'24h' is the same offset as '1d'; give each reminder once"
    )
    # and the same data as plain dicts (as tests and other callers pass it) has no line to show
    with pytest.raises(ProgramFileError) as plain:
        parse_program(data, source="mini.yaml")
    assert plain.value.problems[0].startswith(f"{X_WHERE}: field 'due': ")


def test_program_file_parse_gives_data_equal_to_plain_yaml():
    # given the shipped file's text
    text = SHIPPED.read_text(encoding="utf-8")

    # when / then: the line-keeping reader reads the same data as yaml.safe_load
    assert program_file_parse(text, source="shipped") == yaml.safe_load(text)
