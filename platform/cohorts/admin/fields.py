"""A date and time staff type in a cohort's (or learner's) zone, labelled with it, stored as UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime


def wall_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """The instant a local wall-clock time stands for (invariant 3: a time the zone skips moves forward
    by the gap, a repeated one takes its first occurrence)."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


class ZonedSplitDateTimeWidget(AdminSplitDateTime):
    """The admin's date + time inputs, showing an instant as wall-clock time in `zone`."""

    def __init__(self, zone: ZoneInfo | None = None, attrs: dict | None = None) -> None:
        self.zone = zone or ZoneInfo("UTC")
        super().__init__(attrs)

    def decompress(self, value: datetime | None) -> list:
        if value:
            local = value.astimezone(self.zone)
            return [local.date(), local.time().replace(microsecond=0)]
        return [None, None]


class ZonedDateTimeField(forms.SplitDateTimeField):
    """Typed in `zone` (set per form instance with `use_zone`), cleaned to an aware UTC datetime.

    Django's own field reads and shows times in the active time zone (UTC here): 12:00 typed for a New
    York cohort silently became 07:00 there. This one is explicit about the zone, and its help text says
    which zone and, once typed, which UTC instant the value is.
    """

    widget = ZonedSplitDateTimeWidget

    def __init__(self, *, zone: ZoneInfo | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.use_zone(zone or ZoneInfo("UTC"))

    def use_zone(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.widget.zone = zone
        self.help_text = f"Local time in {zone.key}."

    def compress(self, data_list: list) -> datetime | None:
        if not data_list or data_list[0] in self.empty_values or data_list[1] in self.empty_values:
            return super().compress(data_list)  # the stock "enter a date and a time" errors
        try:
            return wall_to_utc(datetime.combine(*data_list), self.zone)
        except (OverflowError, ValueError):
            # e.g. 9999-12-31 23:00 west of UTC: past the last instant a datetime can hold
            raise forms.ValidationError(
                "This date and time cannot be stored; give a date between years 1 and 9999.", code="invalid"
            ) from None
