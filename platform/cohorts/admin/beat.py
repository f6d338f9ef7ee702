"""django-celery-beat's Periodic task and Clocked schedule pages, for cohort events: each links back to
its event, and a cohort event's entry says that edits there are overwritten by the next sync."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, PeriodicTask

COHORT_ENTRY = "cohort-"  # models.beat_entry_name: cohort-<id>:<key>
OVERWRITTEN = (
    "This Beat entry mirrors a cohort's calendar event: edits made here are overwritten by the next "
    "calendar sync. To move the event, use its page (below), which types the time in the cohort's zone."
)


def _cohort_id(name: str) -> int | None:
    head, sep, _ = name.partition(":")
    number = head.removeprefix(COHORT_ENTRY)
    return int(number) if head.startswith(COHORT_ENTRY) and sep and number.isdigit() else None


def _event_link(name: str) -> str:
    cohort_id = _cohort_id(name)
    if cohort_id is None:
        return "—"
    return format_html(
        '<a href="{}">move the event</a> · <a href="{}">calendar</a>',
        reverse("admin:cohorts_cohortevent_by_entry", args=[name]),
        reverse("admin:cohorts_cohort_calendar", args=[cohort_id]),
    )


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    list_display = ("name", "enabled", "clocked_utc", "last_run_at", "one_off", "calendar_event")
    change_form_template = "admin/django_celery_beat/periodictask/change_form.html"

    def get_fieldsets(self, request: HttpRequest, obj: PeriodicTask | None = None) -> list:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and _cohort_id(obj.name) is not None:
            fieldsets.insert(0, ("Calendar event", {"fields": ("calendar_event", "clocked_utc")}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: PeriodicTask | None = None) -> tuple:
        return (*super().get_readonly_fields(request, obj), "calendar_event", "clocked_utc")

    def get_urls(self) -> list:
        by_name = path(
            "by-name/<path:name>/",
            self.admin_site.admin_view(self.by_name_view),
            name="django_celery_beat_periodictask_by_name",
        )
        return [by_name, *super().get_urls()]

    def by_name_view(self, request: HttpRequest, name: str) -> HttpResponse:
        """An entry by its name (the calendar page links to entries by name, with no query per row)."""
        pk = PeriodicTask.objects.filter(name=name).values_list("pk", flat=True).first()
        if pk is None:
            raise Http404(f"No Beat entry named {name!r}: the next calendar sync creates it.")
        return HttpResponseRedirect(reverse("admin:django_celery_beat_periodictask_change", args=[pk]))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id:
            name = PeriodicTask.objects.filter(pk=object_id).values_list("name", flat=True).first() or ""
            if _cohort_id(name) is not None:
                extra_context["overwritten_note"] = OVERWRITTEN
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description="calendar event")
    def calendar_event(self, task: PeriodicTask) -> str:
        return _event_link(task.name)

    @admin.display(description="clocked (UTC)", ordering="clocked__clocked_time")
    def clocked_utc(self, task: PeriodicTask) -> str:
        if task.clocked is None:
            return "—"
        return f"{task.clocked.clocked_time:%Y-%m-%d %H:%M:%S} UTC"


admin.site.unregister(ClockedSchedule)


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(beat_admin.ClockedScheduleAdmin):
    list_display = ("clocked_time", "entries")
    readonly_fields = ("entries",)
    fields = ("clocked_time", "entries")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        tasks = Prefetch("periodictask_set", queryset=PeriodicTask.objects.only("pk", "name", "clocked_id"))
        return super().get_queryset(request).prefetch_related(tasks)

    @admin.display(description="Beat entries and their calendar events")
    def entries(self, clocked: ClockedSchedule) -> str:
        tasks = list(clocked.periodictask_set.all())
        if not tasks:
            return "—"
        parts = []
        for task in tasks:
            if _cohort_id(task.name) is None:
                parts.append(format_html("{}", task.name))
            else:
                note = "edits here are overwritten by the next sync"
                parts.append(format_html("{} ({}; {})", task.name, _event_link(task.name), note))
        return format_html("<br>".join(["{}"] * len(parts)), *parts)
