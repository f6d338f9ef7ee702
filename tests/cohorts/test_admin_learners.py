"""Staff pages for learners and extensions (issue #7 items 3 and 4), through the test client: each bad
input answers the form with an error naming the field, never a 500, and changes nothing stored."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model

from cohorts import services
from cohorts.models import Enrollment, Extension

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def extension_data(of, *, due=("2027-01-10", "16:00:00"), cutoff=("2027-01-13", "09:00:00"), **changes):
    cohort = of
    data = {
        "cohort": cohort.pk,
        "project": cohort.program.projects.get(key="p0").pk,
        "enrollment": cohort.enrollments.get(email="bob@example.com").pk,
        "group": "",
        "due_at_0": due[0],
        "due_at_1": due[1],
        "cutoff_at_0": cutoff[0],
        "cutoff_at_1": cutoff[1],
        "reason": "illness",
    }
    data.update(changes)
    return data


def add_extension(client, cohort, **kwargs):
    return client.post(f"/admin/cohorts/extension/add/?cohort={cohort.pk}", extension_data(cohort, **kwargs))


def form_errors(response):
    return response.context["adminform"].form.errors


# --- extensions -------------------------------------------------------------------------------------


def test_the_email_autocomplete_finds_the_learner(admin_client, make_cohort):
    cohort = make_cohort()
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "cohorts", "model_name": "extension", "field_name": "enrollment", "term": "ada"},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [str(cohort.enrollments.get(email="ada@example.com").pk)]


def test_the_add_page_asks_for_the_cohort_first_then_labels_the_times_with_its_zone(
    admin_client, make_cohort
):
    cohort = make_cohort(name="New York", timezone="America/New_York")
    cohort.enrollments.filter(email="bob@example.com").update(group="blue")
    first = admin_client.get("/admin/cohorts/extension/add/")
    assert first.status_code == 200
    assert "choose the cohort" in first.content.decode()
    page = admin_client.get(f"/admin/cohorts/extension/add/?cohort={cohort.pk}")
    form = page.context["adminform"].form
    assert "America/New_York" in str(form["due_at"].label)
    assert "America/New_York" in form["due_at"].help_text
    assert [value for value, _ in form.fields["group"].choices] == ["", "blue"]


def test_extension_times_typed_in_new_york_land_at_the_utc_instant(admin_client, make_cohort):
    cohort = make_cohort(name="New York", timezone="America/New_York")
    response = add_extension(
        admin_client, cohort, due=("2027-01-12", "12:00:00"), cutoff=("2027-01-14", "09:00:00")
    )
    assert response.status_code == 302
    extension = Extension.objects.get()
    assert extension.due_at == utc(2027, 1, 12, 17, 0)
    assert extension.cutoff_at == utc(2027, 1, 14, 14, 0)
    # and the change page and the list show the UTC instant beside the local time
    page = admin_client.get(f"/admin/cohorts/extension/{extension.pk}/change/").content.decode()
    assert 'value="12:00:00"' in page
    assert "2027-01-12 17:00 UTC" in page
    listing = admin_client.get("/admin/cohorts/extension/").content.decode()
    assert "Tue 2027-01-12 12:00 EST (2027-01-12 17:00 UTC)" in listing


def test_a_group_is_chosen_from_the_cohorts_groups(admin_client, make_cohort):
    cohort = make_cohort()
    services.enrollment_update(enrollment=cohort.enrollments.get(email="bob@example.com"), group="blue")
    response = add_extension(admin_client, cohort, enrollment="", group="green")
    assert response.status_code == 200
    assert "group" in form_errors(response)
    assert add_extension(admin_client, cohort, enrollment="", group="blue").status_code == 302
    bob = cohort.enrollments.get(email="bob@example.com")
    assert cohort.events.get(key=f"close:p0@{bob.pk}").at == utc(2027, 1, 13, 8, 0)  # 09:00 Lagos


def test_a_past_time_is_refused_unless_carry_it_out_now_is_ticked(admin_client, admin_user, make_cohort):
    cohort = make_cohort()
    with time_machine.travel(utc(2027, 1, 9, 9, 0), tick=False):
        admin_client.force_login(admin_user)  # a session from a month ago has expired
        response = add_extension(admin_client, cohort, due=("2027-01-09", "08:00:00"))
        assert response.status_code == 200
        assert "already past" in str(form_errors(response)["due_at"])
        assert not Extension.objects.exists()
        response = add_extension(admin_client, cohort, due=("2027-01-09", "08:00:00"), carry_out_now="on")
        assert response.status_code == 302
    assert Extension.objects.get().due_at == utc(2027, 1, 9, 7, 0)


def test_an_extension_earlier_than_the_learners_current_window_is_refused(admin_client, make_cohort):
    cohort = make_cohort()
    services.enrollment_update(enrollment=cohort.enrollments.get(email="bob@example.com"), group="blue")
    services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        group="blue",
        reason="outage",
        due_at=utc(2027, 1, 12, 16),
        cutoff_at=utc(2027, 1, 14, 8),
    )
    # bob already has until the 14th through his group: a personal one to the 13th changes nothing
    response = add_extension(admin_client, cohort)
    assert response.status_code == 200
    errors = form_errors(response)
    assert "bob@example.com already has due 2027-01-12 17:00 WAT" in str(errors["due_at"])
    assert "cutoff_at" in errors
    assert Extension.objects.count() == 1


def test_a_second_extension_for_the_same_learner_edits_the_first(admin_client, make_cohort):
    cohort = make_cohort()
    assert add_extension(admin_client, cohort).status_code == 302
    first = Extension.objects.get()
    response = add_extension(admin_client, cohort, cutoff=("2027-01-15", "09:00:00"), reason="still ill")
    assert response.status_code == 302
    assert response.url == f"/admin/cohorts/extension/{first.pk}/change/"
    extension = Extension.objects.get()
    assert (extension.pk, extension.reason, extension.cutoff_at) == (
        first.pk,
        "still ill",
        utc(2027, 1, 15, 8),
    )
    shown = admin_client.get(response.url).content.decode()
    assert "already had an extension for p0: it was edited" in shown


def test_a_bad_cohort_on_the_add_page_is_a_form_error_not_a_500(admin_client, make_cohort):
    cohort = make_cohort()
    response = admin_client.post("/admin/cohorts/extension/add/", extension_data(cohort, cohort="999"))
    assert response.status_code == 200
    assert "cohort" in form_errors(response)
    assert admin_client.get("/admin/cohorts/extension/add/?cohort=abc").status_code == 200
    assert not Extension.objects.exists()


# --- the enrollment inline ----------------------------------------------------------------------------


def cohort_data(cohort, rows, initial=0):
    data = {
        "program": cohort.program_id,
        "name": cohort.name,
        "start_date": cohort.start_date.isoformat(),
        "timezone": cohort.timezone,
        "anchors": '{"demo_day": "2027-01-29"}',
        "speed": "1.0",
        "enrollments-TOTAL_FORMS": str(len(rows)),
        "enrollments-INITIAL_FORMS": str(initial),
        "enrollments-MIN_NUM_FORMS": "0",
        "enrollments-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        values = {"id": "", "cohort": cohort.pk, "email": "", "timezone": "", "github_login": "", "group": ""}
        values.update(row)
        data.update({f"enrollments-{index}-{name}": value for name, value in values.items()})
    return data


def test_the_inline_creates_the_learners_account_from_the_email(admin_client, make_cohort):
    cohort = make_cohort(learners=())
    page = admin_client.get(f"/admin/cohorts/cohort/{cohort.pk}/change/").content.decode()
    assert "enrollments-__prefix__-email" in page
    assert "enrollments-__prefix__-user" not in page
    row = {
        "email": "Cy@Example.com",
        "timezone": "America/New_York",
        "github_login": "cy-young",
        "group": "blue",
    }
    response = admin_client.post(f"/admin/cohorts/cohort/{cohort.pk}/change/", cohort_data(cohort, [row]))
    assert response.status_code == 302
    enrollment = Enrollment.objects.get(cohort=cohort)
    assert enrollment.user == get_user_model().objects.get(email="cy@example.com")
    assert (enrollment.email, enrollment.group) == ("cy@example.com", "blue")


def test_an_inline_edit_goes_through_enrollment_update(admin_client, make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    ada = cohort.enrollments.get()
    services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        group="blue",
        reason="outage",
        due_at=utc(2027, 1, 12, 16),
        cutoff_at=utc(2027, 1, 14, 8),
    )
    row = {"id": ada.pk, "email": "ada@example.com", "group": "blue"}
    response = admin_client.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", cohort_data(cohort, [row], initial=1)
    )
    assert response.status_code == 302
    assert cohort.events.get(key=f"close:p0@{ada.pk}").at == utc(2027, 1, 14, 8)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "cy@example.com", "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "cy@example.com", "github_login": "-bad_login-"}, "github_login"),
        ({"email": "ada@example.com"}, "email"),
    ],
)
def test_a_bad_inline_row_is_an_error_on_its_field(admin_client, make_cohort, row, field):
    cohort = make_cohort(learners=("ada@example.com",))
    ada = cohort.enrollments.get()
    rows = [{"id": ada.pk, "email": "ada@example.com"}, row]
    response = admin_client.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", cohort_data(cohort, rows, initial=1)
    )
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert field in formset.forms[1].errors
    assert list(cohort.enrollments.values_list("email", flat=True)) == ["ada@example.com"]
    assert not get_user_model().objects.filter(username__in=["not-an-address", "cy@example.com"]).exists()


# --- bulk enrol ---------------------------------------------------------------------------------------

CSV = (
    "email,name,zone,github login,group\n"
    "cy@example.com,Cy Young,America/New_York,cy-young,blue\n"
    "not-an-address,No One,,,\n"
    "dee@example.com,Dee,Mars/Olympus,,\n"
    "eve@example.com,Eve,,bad_login!,\n"
    "cy@example.com,Cy Again,,,\n"
    "ada@example.com,Ada,,,\n"
    "fay@example.com,Fay,,,blue\n"
)


def test_the_enrollment_list_links_to_the_bulk_page(admin_client, make_cohort):
    cohort = make_cohort()
    listing = admin_client.get(f"/admin/cohorts/enrollment/?cohort__id__exact={cohort.pk}").content.decode()
    assert f"/admin/cohorts/enrollment/enrol/{cohort.pk}/" in listing
    assert admin_client.get("/admin/cohorts/enrollment/enrol/").status_code == 200  # choose the cohort


def test_the_csv_preview_shows_each_rows_errors_and_stores_nothing(admin_client, make_cohort):
    cohort = make_cohort()
    response = admin_client.post(
        f"/admin/cohorts/enrollment/enrol/{cohort.pk}/", {"csv": CSV, "preview": "1"}
    )
    assert response.status_code == 200
    errors = {row.line: row.errors for row in response.context["rows"]}
    assert errors[2] == {}
    assert errors[8] == {}
    assert "email" in errors[3]
    assert "Mars/Olympus" in errors[4]["timezone"]
    assert "github_login" in errors[5]
    assert errors[6]["email"] == "duplicate of line 2"
    assert errors[7]["email"] == "already enrolled in this cohort"
    assert response.context["valid"] == 2
    assert "Enrol the 2 valid learner(s)" in response.content.decode()
    assert cohort.enrollments.count() == 2


def test_confirming_enrols_only_the_valid_rows_and_the_group_extension_applies(admin_client, make_cohort):
    cohort = make_cohort()
    services.extension_grant(
        cohort=cohort,
        project=cohort.program.projects.get(key="p0"),
        group="blue",
        reason="outage",
        due_at=utc(2027, 1, 12, 16),
        cutoff_at=utc(2027, 1, 14, 8),
    )
    response = admin_client.post(
        f"/admin/cohorts/enrollment/enrol/{cohort.pk}/", {"csv": CSV, "confirm": "1"}
    )
    assert response.status_code == 302
    emails = set(cohort.enrollments.values_list("email", flat=True))
    assert emails == {"ada@example.com", "bob@example.com", "cy@example.com", "fay@example.com"}
    for email in ("cy@example.com", "fay@example.com"):
        learner = cohort.enrollments.get(email=email)
        assert cohort.events.get(key=f"close:p0@{learner.pk}").at == utc(2027, 1, 14, 8)
    assert cohort.enrollments.get(email="cy@example.com").timezone == "America/New_York"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n".join(f"l{i}@example.com" for i in range(5001)), "at most 5000"),
        ("x" * (1024 * 1024 + 1), "over 1024 KiB"),
        ("", "This field is required"),
        ('"unclosed,quote\n', "Enter a valid email address"),
    ],
)
def test_huge_or_broken_input_is_a_clear_form_error(admin_client, make_cohort, text, message):
    cohort = make_cohort()
    response = admin_client.post(
        f"/admin/cohorts/enrollment/enrol/{cohort.pk}/", {"csv": text, "confirm": "1"}
    )
    assert response.status_code == 200
    shown = str(response.context["form"].errors.get("csv", "")) + str(response.context.get("rows", ""))
    assert message.lower() in (shown + response.content.decode()).lower()
    assert cohort.enrollments.count() == 2


def test_an_unknown_cohort_on_the_bulk_page_asks_for_one(admin_client, make_cohort):
    make_cohort()
    response = admin_client.post("/admin/cohorts/enrollment/enrol/999/", {"csv": CSV})
    assert response.status_code == 200
    assert "There is no cohort 999" in response.content.decode()


def test_carrying_out_a_past_extension_with_the_broker_down_is_left_to_the_reconciler(
    admin_client, admin_user, make_cohort, broker_down, transactional_db
):
    # given the broker unreachable (a real refused connection); the admin's own transaction commits (no
    # test transaction around it), so the publish happens at its commit, as in production
    cohort = make_cohort()
    with time_machine.travel(utc(2027, 1, 9, 9, 0), tick=False):
        admin_client.force_login(admin_user)
        # when staff grant an extension already past and tick "carry it out now"
        response = add_extension(admin_client, cohort, due=("2027-01-09", "08:00:00"), carry_out_now="on")
        # then it is saved and staff are told the reconciler carries it out: no 500
        assert response.status_code == 302
        page = admin_client.get(response["Location"]).content.decode()
    assert "The broker is unreachable right now" in page
    assert Extension.objects.get().due_at == utc(2027, 1, 9, 7, 0)
