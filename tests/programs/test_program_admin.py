"""Item 3: the Unit and Project pages re-sync every cohort of the program; a change some cohort's
calendar refuses is a form error naming the cohort, and nothing changes."""

import re
from datetime import UTC, date, datetime

import pytest
from django_celery_beat.models import PeriodicTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_now")]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def entry_time(cohort, key):
    return PeriodicTask.objects.get(name=f"cohort-{cohort.pk}:{key}").clocked.clocked_time


def unit_form(unit, **changes):
    data = {
        "program": unit.program_id,
        "key": unit.key,
        "position": unit.position,
        "title": unit.title,
        "summary": unit.summary,
        "phase": unit.phase,
        "unlock": unit.unlock,
        "content-TOTAL_FORMS": "0",
        "content-INITIAL_FORMS": "0",
        "content-MIN_NUM_FORMS": "0",
        "content-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def project_form(project, **changes):
    data = {
        "program": project.program_id,
        "unit": project.unit_id,
        "key": project.key,
        "position": project.position,
        "title": project.title,
        "description": project.description,
        "opens": project.opens,
        "due": project.due,
        "cutoff": project.cutoff,
        "grace": "02:00:00",
        "reminders": "",
    }
    data.update(changes)
    return data


def test_editing_a_units_unlock_on_the_unit_page_moves_every_cohorts_entry(make_cohort, admin_client):
    lagos = make_cohort()
    nyc = make_cohort(name="NYC", timezone="America/New_York")
    unit = lagos.program.units.get(key="week-1")
    # when staff move week 1's unlock from Monday 09:00 to Tuesday 10:00 on the Unit page
    response = admin_client.post(
        f"/admin/programs/unit/{unit.pk}/change/", unit_form(unit, unlock="week 1 tue 10:00")
    )
    assert response.status_code == 302
    # then both cohorts' events and Beat entries moved, each in its own zone
    assert entry_time(lagos, "unlock:week-1") == utc(2027, 1, 12, 9, 0)
    assert entry_time(nyc, "unlock:week-1") == utc(2027, 1, 12, 15, 0)
    assert lagos.events.get(key="unlock:week-1").at == utc(2027, 1, 12, 9, 0)


def test_editing_a_projects_due_on_the_project_page_moves_its_events(make_cohort, admin_client):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    response = admin_client.post(
        f"/admin/programs/project/{project.pk}/change/", project_form(project, due="week 0 sat 12:00")
    )
    assert response.status_code == 302
    # then the due and the reminders counted from it moved in Beat
    assert entry_time(cohort, "due:p0") == utc(2027, 1, 9, 11, 0)
    assert entry_time(cohort, "remind:p0:1h") == utc(2027, 1, 9, 10, 0)


def test_a_project_edit_a_cohort_refuses_is_a_form_error_naming_the_cohort(make_cohort, admin_client):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    # when the opening moves before the cohort's start
    response = admin_client.post(
        f"/admin/programs/project/{project.pk}/change/", project_form(project, opens="week -1 mon 09:00")
    )
    # then the page says which cohort refuses it and why, and nothing changed
    assert response.status_code == 200
    assert "cohort &#x27;Lagos&#x27; would refuse this change" in response.content.decode()
    project.refresh_from_db()
    assert project.opens == "week 0 mon 09:00"
    assert entry_time(cohort, "open:p0") == utc(2027, 1, 4, 8, 0)


# --- Issue #7 item 2: program editing that cannot break a cohort ----------------------------------


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def field_errors(response):
    """The change form's errors by field, "__all__" for the form's own."""
    return {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


def inline_errors(response, prefix):
    for inline in response.context["inline_admin_formsets"]:
        if inline.formset.prefix == prefix:
            return inline.formset.errors, list(inline.formset.non_form_errors())
    raise AssertionError(f"no inline {prefix}")


def program_form(program, units=None, projects=None, **changes):
    """The Program page's POST as the browser sends it, from what is stored; units/projects map a row's
    key to the fields that change."""
    units, projects = units or {}, projects or {}
    data = {
        "slug": program.slug,
        "name": program.name,
        "description": program.description,
        "timezone_hint": program.timezone_hint,
        "anchors": ", ".join(program.anchors),
        "default_reminders": ", ".join(program.default_reminders),
    }
    rows = list(program.units.all())
    data.update({"units-TOTAL_FORMS": len(rows), "units-INITIAL_FORMS": len(rows)})
    data.update({"units-MIN_NUM_FORMS": 0, "units-MAX_NUM_FORMS": 1000})
    for i, unit in enumerate(rows):
        row = {"id": unit.pk, "program": program.pk, "position": unit.position, "key": unit.key}
        row.update(title=unit.title, unlock=unit.unlock)
        row.update(units.get(unit.key, {}))
        data.update({f"units-{i}-{k}": v for k, v in row.items()})
    rows = list(program.projects.all())
    data.update({"projects-TOTAL_FORMS": len(rows), "projects-INITIAL_FORMS": len(rows)})
    data.update({"projects-MIN_NUM_FORMS": 0, "projects-MAX_NUM_FORMS": 1000})
    for i, project in enumerate(rows):
        row = {"id": project.pk, "program": program.pk, "position": project.position, "key": project.key}
        row.update(title=project.title, unit=project.unit_id, opens=project.opens, due=project.due)
        row.update(cutoff=project.cutoff, grace="2h" if project.grace else "", reminders="")
        row.update(projects.get(project.key, {}))
        data.update({f"projects-{i}-{k}": v for k, v in row.items()})
    data.update(changes)
    return data


def stored(program):
    """Every date-bearing value of the program, to show that a refused page stored nothing."""
    program.refresh_from_db()
    return (
        program.anchors,
        program.default_reminders,
        program.timezone_hint,
        list(program.units.values_list("key", "unlock")),
        list(program.projects.values_list("key", "opens", "due", "cutoff", "grace", "reminders")),
    )


def program_url(program):
    return f"/admin/programs/program/{program.pk}/change/"


BAD_PROJECT_INPUTS = [
    # (field changes, field the error names, words of the error)
    ({"opens": "week 0 mon 9am"}, "opens", "is not a relative date"),
    ({"due": "launch: day 0 09:00"}, "due", "anchor 'launch' is not declared"),
    (
        {"cutoff": "week 0 sun 09:00", "due": "week 0 sat 09:00", "opens": "week 1 mon 09:00"},
        "cutoff",
        "closes (week 0 sun 09:00) before it opens",
    ),
    ({"due": "week 1 tue 09:00"}, "due", "is after the cut-off"),
    ({"due": "week 1 mon 08:00", "grace": "2h"}, "grace", "the grace may be at most 1h"),
    ({"reminders": "1d, 24h"}, "reminders", "'24h' is the same offset as '1d'"),
    ({"reminders": "soon"}, "reminders", "is not a duration"),
    ({"grace": "later"}, "grace", "is not a duration"),
]


@pytest.mark.parametrize(("changes", "field", "words"), BAD_PROJECT_INPUTS)
def test_a_bad_project_input_on_the_project_page_is_an_error_on_its_field(
    make_cohort, admin_client, changes, field, words
):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    before = stored(cohort.program)
    # when staff save the Project page with a bad value
    response = admin_client.post(
        f"/admin/programs/project/{project.pk}/change/", project_form(project, **changes)
    )
    # then the page answers with the error beside the field, and nothing stored changed
    assert response.status_code == 200
    errors = field_errors(response)
    assert any(words in message for message in errors.get(field, [])), errors
    assert stored(cohort.program) == before
    assert entry_time(cohort, "due:p0") == utc(2027, 1, 8, 16, 0)


@pytest.mark.parametrize(
    ("unlock", "words"),
    [
        ("week two mon 09:00", "is not a relative date"),
        ("launch: day 0 09:00", "anchor 'launch' is not declared in the program's anchors ['demo_day']"),
    ],
)
def test_a_bad_unlock_on_the_unit_page_is_an_error_on_its_field(make_cohort, admin_client, unlock, words):
    cohort = make_cohort()
    unit = cohort.program.units.get(key="week-1")
    response = admin_client.post(f"/admin/programs/unit/{unit.pk}/change/", unit_form(unit, unlock=unlock))
    assert response.status_code == 200
    assert any(words in message for message in field_errors(response)["unlock"])
    unit.refresh_from_db()
    assert unit.unlock == "week 1 mon 09:00"
    assert entry_time(cohort, "unlock:week-1") == utc(2027, 1, 11, 8, 0)


def test_a_unit_moved_before_a_cohorts_start_on_the_unit_page_names_the_cohort(make_cohort, admin_client):
    cohort = make_cohort()
    unit = cohort.program.units.get(key="week-1")
    response = admin_client.post(
        f"/admin/programs/unit/{unit.pk}/change/", unit_form(unit, unlock="week -1 mon 09:00")
    )
    assert response.status_code == 200
    assert "cohort 'Lagos' would refuse this change" in " ".join(field_errors(response)["__all__"])
    unit.refresh_from_db()
    assert unit.unlock == "week 1 mon 09:00"
    assert entry_time(cohort, "unlock:week-1") == utc(2027, 1, 11, 8, 0)


def test_reminders_are_typed_and_shown_as_a_list(make_cohort, admin_client):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    # when staff type two reminders, the second in another unit
    response = admin_client.post(
        f"/admin/programs/project/{project.pk}/change/", project_form(project, reminders="2h, 30m")
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.reminders == ["2h", "30m"]
    # then the page shows them as the list they typed; the calendar reminds 2 h and 30 min before due
    page = admin_client.get(f"/admin/programs/project/{project.pk}/change/").content.decode()
    assert 'name="reminders" value="2h, 30m"' in page
    assert entry_time(cohort, "remind:p0:30m") == utc(2027, 1, 8, 15, 30)
    # and an empty input means the program's defaults, never null
    admin_client.post(f"/admin/programs/project/{project.pk}/change/", project_form(project, reminders=""))
    project.refresh_from_db()
    assert project.reminders is None
    page = admin_client.get(f"/admin/programs/project/{project.pk}/change/").content.decode()
    (widget,) = re.findall(r'<input[^>]*name="reminders"[^>]*>', page)
    assert 'value="' not in widget or 'value=""' in widget, widget
    assert "null" not in widget
    program_page = admin_client.get(program_url(cohort.program)).content.decode()
    assert 'name="default_reminders" value="1d, 1h"' in program_page
    assert 'name="anchors" value="demo_day"' in program_page


def test_a_valid_unit_change_says_how_many_events_moved(make_cohort, admin_client):
    make_cohort()
    nyc = make_cohort(name="NYC", timezone="America/New_York")
    unit = nyc.program.units.get(key="week-1")
    response = admin_client.post(
        f"/admin/programs/unit/{unit.pk}/change/", unit_form(unit, unlock="week 1 tue 10:00"), follow=True
    )
    assert "2 cohort calendar(s) re-synced with Beat: 2 event(s) moved, 0 added, 0 removed." in messages_of(
        response
    )


# --- the Program page: program fields and inline rows checked as one program ---------------------


BAD_PROGRAM_PAGE_INPUTS = [
    # (program field changes, unit rows, project rows, where the error is, field, words)
    ({}, {"week-1": {"unlock": "week 1 monday 09:00"}}, {}, "units", "unlock", "unknown weekday"),
    ({}, {"week-1": {"unlock": "launch: day 0 09:00"}}, {}, "units", "unlock", "anchor 'launch' is not"),
    (
        {"anchors": ""},
        {},
        {},
        "projects",
        "due",
        "anchor 'demo_day' is not declared in the program's anchors []",
    ),
    ({}, {}, {"p0": {"cutoff": "week 0 mon 08:00"}}, "projects", "cutoff", "before it opens"),
    ({}, {}, {"p0": {"due": "week 1 mon 10:00"}}, "projects", "due", "is after the cut-off"),
    ({}, {}, {"p0": {"grace": "3d"}}, "projects", "grace", "ends after the cut-off"),
    ({}, {}, {"p0": {"reminders": "1h, 60m"}}, "projects", "reminders", "same offset"),
    ({"default_reminders": "1d, 1d"}, {}, {}, "program", "default_reminders", "same offset"),
    ({"anchors": "Demo Day"}, {}, {}, "program", "anchors", "is not an anchor name"),
    ({"timezone_hint": "Mars/Olympus"}, {}, {}, "program", "timezone_hint", "is not an IANA time zone"),
]


@pytest.mark.parametrize(
    ("program_changes", "units", "projects", "where", "field", "words"), BAD_PROGRAM_PAGE_INPUTS
)
def test_a_bad_input_on_the_program_page_is_an_error_on_its_field(
    make_cohort, admin_client, program_changes, units, projects, where, field, words
):
    cohort = make_cohort()
    program = cohort.program
    before = stored(program)
    response = admin_client.post(
        program_url(program), program_form(program, units, projects, **program_changes)
    )
    assert response.status_code == 200
    if where == "program":
        messages = field_errors(response).get(field, [])
    else:
        rows, _ = inline_errors(response, where)
        messages = [m for row in rows for m in row.get(field, [])]
    assert any(words in m for m in messages), (field_errors(response), inline_errors(response, where))
    assert stored(program) == before
    assert entry_time(cohort, "due:p0") == utc(2027, 1, 8, 16, 0)
    assert entry_time(cohort, "unlock:week-1") == utc(2027, 1, 11, 8, 0)


def test_a_program_page_change_a_cohort_refuses_names_the_cohort_and_stores_nothing(
    make_cohort, admin_client
):
    cohort = make_cohort()
    make_cohort(name="Late", start=date(2027, 3, 8), timezone="America/New_York", demo_day="2027-04-02")
    program = cohort.program
    before = stored(program)
    # when staff move week 1 (valid for the program itself) before the Lagos cohort's start, and also
    # change a program field and another row in the same save
    data = program_form(
        program,
        units={"week-1": {"unlock": "week -1 mon 09:00"}},
        projects={"p0": {"due": "week 0 sat 12:00"}},
        name="Renamed",
    )
    response = admin_client.post(program_url(program), data)
    # then the page re-renders with everything typed and an error naming the cohort
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved: cohort &#x27;Lagos&#x27; would refuse this change" in page
    assert "unlock:week-1 falls on" in page
    assert 'value="week -1 mon 09:00"' in page
    # and nothing is stored: not the program's name, not the rows, not the Beat entries
    assert stored(program) == before
    assert program.name == "Small program"
    assert entry_time(cohort, "unlock:week-1") == utc(2027, 1, 11, 8, 0)
    assert entry_time(cohort, "due:p0") == utc(2027, 1, 8, 16, 0)


def test_declaring_an_anchor_a_cohort_has_no_date_for_names_the_cohort(make_cohort, admin_client):
    cohort = make_cohort()
    program = cohort.program
    response = admin_client.post(program_url(program), program_form(program, anchors="demo_day, launch"))
    assert response.status_code == 200
    assert "cohort &#x27;Lagos&#x27; would refuse this change" in response.content.decode()
    program.refresh_from_db()
    assert program.anchors == ["demo_day"]


def test_a_valid_program_page_change_moves_beat_entries_and_says_how_many_events_moved(
    make_cohort, admin_client
):
    cohort = make_cohort()
    program = cohort.program
    data = program_form(
        program,
        units={"week-1": {"unlock": "week 1 tue 10:00"}},
        projects={"p0": {"due": "week 0 sat 12:00", "reminders": "1h"}},
    )
    response = admin_client.post(program_url(program), data, follow=True)
    assert response.status_code == 200
    # then the unlock and the due moved in Beat; the 1-day reminder is gone, as p0 now only has 1h
    assert entry_time(cohort, "unlock:week-1") == utc(2027, 1, 12, 9, 0)
    assert entry_time(cohort, "due:p0") == utc(2027, 1, 9, 11, 0)
    assert entry_time(cohort, "remind:p0:1h") == utc(2027, 1, 9, 10, 0)
    assert not cohort.events.filter(key="remind:p0:1d").exists()
    # unlock:week-1, due:p0, remind:p0:1h moved; remind:p0:1d removed
    assert "1 cohort calendar(s) re-synced with Beat: 3 event(s) moved, 0 added, 1 removed." in messages_of(
        response
    )
    program.refresh_from_db()
    assert program.projects.get(key="p0").reminders == ["1h"]


# --- the schedule preview ------------------------------------------------------------------------


def preview_rows(response):
    return [
        (
            row.week,
            row.project.key if row.project else row.unit.key,
            row.opens.label,
            row.due.label if row.due else "",
            row.cutoff.label if row.cutoff else "",
            [r.label for r in row.reminders],
        )
        for row in response.context["schedule_preview"].rows
    ]


def test_the_program_page_previews_the_schedule_from_the_next_monday(small_program, admin_client):
    # given the clock on Tuesday 2026-12-01 and a program without a zone hint (so UTC)
    response = admin_client.get(program_url(small_program))
    assert response.status_code == 200
    preview = response.context["schedule_preview"]
    assert preview.start == date(2026, 12, 7)
    assert preview.anchors == {"demo_day": date(2027, 3, 1)}  # start + 12 weeks
    assert preview_rows(response) == [
        (0, "week-0", "Mon 07 Dec 09:00", "", "", []),
        (
            0,
            "p0",
            "Mon 07 Dec 09:00",
            "Fri 11 Dec 17:00",
            "Mon 14 Dec 09:00",
            ["Thu 10 Dec 17:00", "Fri 11 Dec 16:00"],
        ),
        (1, "week-1", "Mon 14 Dec 09:00", "", "", []),
        (2, "capstone", "Mon 21 Dec 09:00", "", "", []),
        (
            11,
            "demo",
            "Mon 21 Dec 09:00",
            "Sun 28 Feb 18:00",
            "Mon 01 Mar 09:00",
            ["Sat 27 Feb 18:00", "Sun 28 Feb 17:00"],
        ),
    ]
    page = response.content.decode()
    assert "Schedule preview: a sample cohort starting Mon 07 Dec 2026" in page
    assert "Local times in <strong>UTC</strong>" in page
    assert "(grace 2h)" in page


def test_the_preview_follows_the_start_anchors_and_zone_staff_choose(small_program, admin_client):
    small_program.timezone_hint = "Africa/Lagos"
    small_program.save()
    response = admin_client.get(
        program_url(small_program), {"preview_start": "2027-01-04", "preview_demo_day": "2027-01-29"}
    )
    rows = preview_rows(response)
    assert rows[1][2:5] == ("Mon 04 Jan 09:00", "Fri 08 Jan 17:00", "Mon 11 Jan 09:00")
    assert rows[-1][3:5] == ("Thu 28 Jan 18:00", "Fri 29 Jan 09:00")
    # the hover text gives the instant in UTC (Lagos is UTC+1)
    assert "week 0 fri 17:00 = Fri 08 Jan 2027 16:00 UTC" in response.content.decode()
    # a date that is not one is said, and the default used
    response = admin_client.get(program_url(small_program), {"preview_start": "soon"})
    assert response.status_code == 200
    assert "start: &#x27;soon&#x27; is not a date" in response.content.decode()


def test_the_preview_marks_a_date_it_cannot_resolve_instead_of_failing(small_program, admin_client):
    # a row stored before the checks existed, counting from an anchor the program does not declare
    small_program.units.filter(key="week-1").update(unlock="launch: day 0 09:00")
    response = admin_client.get(program_url(small_program))
    assert response.status_code == 200
    assert "needs the anchor &#x27;launch&#x27;" in response.content.decode()


def test_the_preview_warns_of_a_window_the_sample_dates_put_out_of_order(small_program, admin_client):
    # a demo day before the capstone opens: the demo window would close before it opens
    response = admin_client.get(program_url(small_program), {"preview_demo_day": "2026-12-14"})
    (demo,) = [
        row for row in response.context["schedule_preview"].rows if row.project and row.project.key == "demo"
    ]
    assert demo.problem == "closes before it opens"
    assert "would be refused" in response.content.decode()


def test_staff_set_a_projects_github_settings_on_its_page(make_cohort, admin_client):
    project = make_cohort().program.projects.get(key="p0")
    url = f"/admin/programs/project/{project.pk}/change/"
    # when staff name the required checks, the template (pasted as a URL) and the organisation
    response = admin_client.post(
        url,
        project_form(
            project,
            required_checks="autograding, lint\nautograding",
            template_repository="https://github.com/acme/backend-template.git",
            github_organization="acme-learners",
        ),
    )
    # then they are stored as the services read them, and shown as typed
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.required_checks == ["autograding", "lint"]
    assert project.template_repository == "acme/backend-template"
    assert project.github_organization == "acme-learners"
    assert 'name="required_checks" value="autograding, lint"' in admin_client.get(url).content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"template_repository": "not a repository"}, "template_repository", "owner/name"),
        (
            {"template_repository": "acme/t", "github_organization": "-acme"},
            "github_organization",
            "Not a GitHub",
        ),
        (
            {"template_repository": "acme/t", "github_organization": ""},
            "github_organization",
            "need an organisation",
        ),
    ],
)
def test_bad_github_settings_are_form_errors_naming_the_field(
    make_cohort, admin_client, changes, field, error
):
    project = make_cohort().program.projects.get(key="p0")
    response = admin_client.post(
        f"/admin/programs/project/{project.pk}/change/", project_form(project, **changes)
    )
    assert response.status_code == 200
    assert error in str(response.context["adminform"].form.errors[field])
    project.refresh_from_db()
    assert (project.template_repository, project.github_organization) == ("", "")
