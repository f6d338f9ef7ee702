"""Cohort events (move one event for one cohort) and releases."""

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from cohorts import calendar, services
from cohorts.models import CohortEvent, Release


class CohortEventForm(forms.ModelForm):
    class Meta:
        model = CohortEvent
        fields = ("override_at",)

    def clean(self) -> dict:
        data = super().clean()
        event = self.instance
        if event.done_at is not None:
            raise forms.ValidationError({"override_at": f"{event.key} already happened; it cannot move."})
        if not self.errors:
            calendar.check(event.cohort, move=(event.key, data.get("override_at")))
        return data


@admin.register(CohortEvent)
class CohortEventAdmin(admin.ModelAdmin):
    """Staff move one event for one cohort by setting override_at; Beat follows within seconds."""

    form = CohortEventForm

    list_display = (
        "cohort",
        "key",
        "kind",
        "local_time",
        "scheduled_at",
        "override_at",
        "fire_at",
        "done_at",
    )
    list_filter = ("kind", "cohort")
    search_fields = ("key", "subject")
    fields = (
        "cohort",
        "key",
        "kind",
        "subject",
        "enrollment",
        "local_time",
        "scheduled_at",
        "override_at",
        "fire_at",
        "done_at",
    )
    readonly_fields = tuple(name for name in fields if name != "override_at")  # the one thing staff move

    @admin.display(description="local time (cohort's zone)")
    def local_time(self, event: CohortEvent) -> str:
        return event.cohort.local(event.at).strftime("%a %Y-%m-%d %H:%M %Z")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events come from the program; move one, or edit the program

    def save_model(self, request: HttpRequest, obj: CohortEvent, form, change: bool) -> None:
        services.cohort_event_move(event=obj, at=obj.override_at)


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("cohort", "unit", "released_at")
    list_filter = ("cohort",)
