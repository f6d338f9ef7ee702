"""The zoned date-time field: staff type wall-clock time in the cohort's zone, the database gets UTC."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django import forms

from cohorts.admin.fields import ZonedDateTimeField

NEW_YORK = ZoneInfo("America/New_York")


class MoveForm(forms.Form):
    at = ZonedDateTimeField()

    def __init__(self, *args, zone, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["at"].use_zone(zone)


def test_a_time_typed_in_new_york_is_stored_as_its_utc_instant():
    form = MoveForm({"at_0": "2027-01-12", "at_1": "12:00:00"}, zone=NEW_YORK)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["at"] == datetime(2027, 1, 12, 17, 0, tzinfo=UTC)
    assert "America/New_York" in str(form["at"].help_text)


def test_a_stored_instant_is_shown_in_the_zone():
    form = MoveForm(initial={"at": datetime(2027, 1, 12, 17, 0, tzinfo=UTC)}, zone=NEW_YORK)
    html = str(form["at"])
    assert 'value="2027-01-12"' in html
    assert 'value="12:00:00"' in html


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        # 02:30 does not exist on 14 March 2027 in New York: it moves forward by the gap (03:30 EDT)
        (time(2, 30), datetime(2027, 3, 14, 7, 30, tzinfo=UTC)),
    ],
)
def test_a_time_the_zone_skips_moves_forward(typed, stored):
    form = MoveForm({"at_0": date(2027, 3, 14).isoformat(), "at_1": typed.isoformat()}, zone=NEW_YORK)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["at"] == stored


def test_a_repeated_time_takes_its_first_occurrence():
    form = MoveForm({"at_0": "2027-11-07", "at_1": "01:30:00"}, zone=NEW_YORK)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["at"] == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_a_missing_time_is_a_form_error():
    form = MoveForm({"at_0": "2027-01-12", "at_1": ""}, zone=NEW_YORK)
    assert not form.is_valid()
    assert "at" in form.errors


@pytest.mark.parametrize(("day", "zone"), [("9999-12-31", NEW_YORK), ("0001-01-01", ZoneInfo("Asia/Tokyo"))])
def test_a_date_at_the_edge_of_the_calendar_is_a_form_error_not_a_crash(day, zone):
    form = MoveForm({"at_0": day, "at_1": "23:00:00" if day.startswith("9999") else "01:00:00"}, zone=zone)
    assert not form.is_valid()
    assert "cannot be stored" in str(form.errors["at"])
