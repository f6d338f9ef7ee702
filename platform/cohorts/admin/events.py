"""Cohort events (move one event for one cohort, in the cohort's zone) and releases."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from cohorts import calendar, selectors, services
from cohorts.admin.fields import ZonedDateTimeField
from cohorts.models import Cohort, CohortEvent, Release
from core import clock
from core.admin_refusals import RefusalsAsMessages

EventState = selectors.EventState


def _local(cohort: Cohort, at: datetime | None) -> str:
    return "—" if at is None else f"{cohort.local(at):%a %Y-%m-%d %H:%M:%S %Z}"


def _utc(at: datetime | None) -> str:
    return "—" if at is None else f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


class MoveField(ZonedDateTimeField):
    """A time near the ends of the calendar (year 1 east of UTC, year 9999 west of it) has no UTC instant."""

    def compress(self, data_list: list) -> datetime | None:
        try:
            return super().compress(data_list)
        except OverflowError:
            raise ValidationError("That date is outside the calendar.", code="overflow") from None


class CohortEventForm(forms.ModelForm):
    """The time is typed in the cohort's zone. A time already past on the cohort's calendar is refused
    unless staff say to carry the event out now (it is then moved to the calendar's now)."""

    override_at = MoveField(label="Move to", required=False, help_text="Empty: back to the program's time.")
    carry_out_now = forms.BooleanField(
        label="Carry it out now",
        required=False,
        help_text="For a time already past: move the event to now, so it is carried out within seconds.",
    )

    class Meta:
        model = CohortEvent
        fields = ("override_at",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "override_at" in self.fields:  # a done event's page shows it read-only
            zone = self.instance.cohort.zone
            self.fields["override_at"].use_zone(zone)
            self.fields["override_at"].help_text = (
                f"Local time in {zone.key}, seconds allowed. Empty: back to the program's time "
                f"({_local(self.instance.cohort, self.instance.scheduled_at)})."
            )

    def clean(self) -> dict:
        data = super().clean()
        event = self.instance
        if event.done_at is not None:
            # Not a field's error: a done event's page has no field to move it with.
            raise ValidationError(f"{event.key} already happened; it cannot move.")
        if "override_at" not in data:
            return data  # the field's own error (a date that is not one) is shown as it is
        cohort = event.cohort
        at = data["override_at"]
        calendar_now = cohort.calendar_now(clock.now()).replace(microsecond=0)
        if (at or event.scheduled_at) < calendar_now:
            if not data.get("carry_out_now"):
                raise ValidationError(
                    {
                        "override_at": f"{_local(cohort, at or event.scheduled_at)} is already past: the "
                        f"cohort's calendar is at {_local(cohort, calendar_now)}. Choose a later time, or "
                        "tick 'Carry it out now'."
                    }
                )
            at = data["override_at"] = calendar_now
        try:
            calendar.check(cohort, move=(event.key, at))
        except ValidationError as exc:
            # The calendar names the cohort field at fault (start_date, anchors); on this page it is the move.
            for field, errors in exc.message_dict.items():
                self.add_error("override_at" if field not in self.fields else field, errors)
        except OverflowError:
            self.add_error("override_at", "That date is outside the calendar.")
        return data


def _nowrap(text: str) -> str:
    return format_html('<span style="white-space: nowrap">{}</span>', text)


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(EventState.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        return selectors.events_in_state(queryset, self.value(), now=clock.now())


@admin.register(CohortEvent)
class CohortEventAdmin(RefusalsAsMessages, admin.ModelAdmin):
    """Staff move one event for one cohort; Beat follows within seconds. Events come from the program:
    none is added or deleted here."""

    form = CohortEventForm
    list_display = ("cohort", "key", "kind", "list_local_time", "list_fires", "state", "list_done")
    list_filter = ("cohort", "kind", StateFilter)
    list_select_related = ("cohort",)
    search_fields = ("key", "subject")
    list_per_page = 100
    fields = (
        "cohort_link",
        "key",
        "kind",
        "subject",
        "enrollment",
        "state",
        "zone",
        "program_time",
        "local_time",
        "utc_time",
        "fires",
        "override_at",
        "carry_out_now",
        "done",
        "error",
    )
    # Everything but the time staff type (and the "carry it out now" choice) is shown, not edited.
    readonly_fields = tuple(name for name in fields if name not in ("override_at", "carry_out_now"))

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # Seven columns and the filters fit 1,400 px without the navigation sidebar.
        return super().changelist_view(request, {**(extra_context or {}), "is_nav_sidebar_enabled": False})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.events_with_state(super().get_queryset(request), now=clock.now())

    def get_urls(self) -> list:
        by_entry = path(
            "by-entry/<path:name>/",
            self.admin_site.admin_view(self.by_entry_view),
            name="cohorts_cohortevent_by_entry",
        )
        return [by_entry, *super().get_urls()]

    def by_entry_view(self, request: HttpRequest, name: str) -> HttpResponse:
        """A Beat entry's event (cohort-<id>:<key>), for links from django-celery-beat's pages."""
        cohort_id, _, key = name.removeprefix("cohort-").partition(":")
        if not cohort_id.isdigit():
            raise Http404(f"{name!r} is not a cohort event's Beat entry.")
        event = (
            CohortEvent.objects.filter(cohort_id=int(cohort_id), key=key)
            .order_by("-done_at", "-pk")  # the current program's (pending) one before history
            .first()
        )
        if event is None:
            raise Http404(f"No event for the Beat entry {name!r}.")
        return HttpResponseRedirect(reverse("admin:cohorts_cohortevent_change", args=[event.pk]))

    @admin.display(description="cohort", ordering="cohort__name")
    def cohort_link(self, event: CohortEvent) -> str:
        return format_html(
            '{} (<a href="{}#event-{}">calendar</a>)',
            event.cohort,
            reverse("admin:cohorts_cohort_calendar", args=[event.cohort_id]),
            event.pk,
        )

    @admin.display(description="zone")
    def zone(self, event: CohortEvent) -> str:
        cohort = event.cohort
        return f"{cohort.zone.key} (speed {cohort.speed:g}×)" if cohort.speed != 1 else cohort.zone.key

    @admin.display(description="program's time")
    def program_time(self, event: CohortEvent) -> str:
        return _local(event.cohort, event.scheduled_at)

    @admin.display(description="local time", ordering="fire_at")
    def local_time(self, event: CohortEvent) -> str:
        return _local(event.cohort, event.at)

    @admin.display(description="local time", ordering="fire_at")
    def list_local_time(self, event: CohortEvent) -> str:
        return _nowrap(f"{event.cohort.local(event.at):%a %d %b %H:%M:%S %Z}")

    @admin.display(description="fires (real)", ordering="fire_at")
    def list_fires(self, event: CohortEvent) -> str:
        return _nowrap(f"{event.fire_at.astimezone(UTC):%d %b %H:%M:%S} UTC")

    @admin.display(description="done at", ordering="done_at")
    def list_done(self, event: CohortEvent) -> str:
        return (
            "—"
            if event.done_at is None
            else _nowrap(f"{event.cohort.local(event.done_at):%d %b %H:%M:%S %Z}")
        )

    @admin.display(description="UTC")
    def utc_time(self, event: CohortEvent) -> str:
        return _utc(event.at)

    @admin.display(description="fires (real)", ordering="fire_at")
    def fires(self, event: CohortEvent) -> str:
        return _utc(event.fire_at)

    @admin.display(description="state")
    def state(self, event: CohortEvent) -> str:
        cohort = event.cohort
        next_fire_at = getattr(event, "next_fire_at", None)
        if not hasattr(event, "next_fire_at"):
            next_fire_at = (
                selectors.events_with_state(CohortEvent.objects.filter(pk=event.pk)).get().next_fire_at
            )
        state = selectors.event_state(event, cohort=cohort, now=clock.now(), next_fire_at=next_fire_at)
        if state == EventState.FAILED:
            error = event.last_error
            short = error if len(error) <= 32 else f"{error[:31]}…"
            return format_html('{}: <span title="{}">{}</span>', state.label, error, short)
        return state.label

    @admin.display(description="done at", ordering="done_at")
    def done(self, event: CohortEvent) -> str:
        return "—" if event.done_at is None else f"{event.cohort.local(event.done_at):%m-%d %H:%M:%S %Z}"

    @admin.display(description="error")
    def error(self, event: CohortEvent) -> str:
        if not event.last_error:
            return "—"
        return f"after {event.attempts} attempt(s): {event.last_error}"

    def get_readonly_fields(self, request: HttpRequest, obj: CohortEvent | None = None) -> tuple:
        if obj is not None and obj.done_at is not None:
            return (*self.readonly_fields, "override_at", "carry_out_now")  # history: it cannot move
        return self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: CohortEvent | None = None) -> tuple:
        if obj is not None and obj.done_at is not None:
            return tuple(f for f in self.fields if f != "carry_out_now")
        return self.fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events come from the program; move one, or edit the program

    def has_delete_permission(self, request: HttpRequest, obj: CohortEvent | None = None) -> bool:
        return False  # the program plans them; a deleted event would come back at the next sync

    def save_model(self, request: HttpRequest, obj: CohortEvent, form, change: bool) -> None:
        services.cohort_event_move(event=obj, at=form.cleaned_data["override_at"])

    def response_change(self, request: HttpRequest, obj: CohortEvent) -> HttpResponse:
        if request.GET.get("from") == "calendar" and "_continue" not in request.POST:
            self.message_user(request, f"{obj.key} moved to {_local(obj.cohort, obj.at)}.")
            url = reverse("admin:cohorts_cohort_calendar", args=[obj.cohort_id])
            return HttpResponseRedirect(f"{url}#event-{obj.pk}")
        return super().response_change(request, obj)


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("cohort", "unit", "released", "released_utc")
    list_filter = ("cohort",)
    list_select_related = ("cohort", "unit")

    @admin.display(description="released (cohort's zone)", ordering="released_at")
    def released(self, release: Release) -> str:
        return _local(release.cohort, release.released_at)

    @admin.display(description="UTC", ordering="released_at")
    def released_utc(self, release: Release) -> str:
        return _utc(release.released_at)
