"""The Cohort page: edits go through cohort_create / cohort_update; pause and resume actions; the
cohort's calendar page (its events by week, their state, Beat entry and effects)."""

import copy
from collections.abc import Sequence

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from cohorts import calendar, selectors, services, sync
from cohorts.admin.learners import ChatWebhookURLCheck, EnrollmentInline, WebhookURLField
from cohorts.changes import dates_snapshot
from cohorts.keys import EventKey, EventKeyError
from cohorts.models import Cohort, CohortEvent
from core import clock
from core.admin_refusals import RefusalsAsMessages
from notifications.models import Notification
from submissions.models import WindowTransition

Kind = CohortEvent.Kind
# Which notification each calendar event writes (notifications.effects), to count them per event.
NOTIFICATION_KINDS = {
    Kind.UNLOCK: Notification.Kind.UNIT_UNLOCKED,
    Kind.OPEN: Notification.Kind.WINDOW_OPENED,
    Kind.REMIND: Notification.Kind.REMINDER,
    Kind.DUE: Notification.Kind.DUE_PASSED,
    Kind.CLOSE: Notification.Kind.WINDOW_CLOSED,
}


def transitions_read(cohort: Cohort, events: Sequence[CohortEvent]) -> dict[int, str]:
    """Effect reader (one query): the window transition each open / due / close event recorded."""
    recorded = {
        (t.project.program_id, t.project.key, t.kind, t.enrollment_id): t.get_kind_display()
        for t in WindowTransition.objects.filter(cohort=cohort).select_related("project")
    }
    out = {}
    for event in events:
        label = recorded.get((event.program_id, event.subject, event.kind, event.enrollment_id))
        if label:
            out[event.pk] = f"window {label.lower()}"
    return out


def notifications_read(cohort: Cohort, events: Sequence[CohortEvent]) -> dict[int, str]:
    """Effect reader (one query): how many learners each event notified (kind, topic, its instant), on
    however many channels each."""
    counts = {
        (row["kind"], row["subject"], row["effective_at"]): row["n"]
        for row in Notification.objects.filter(enrollment__cohort=cohort)
        .values("kind", "subject", "effective_at")
        .annotate(n=Count("enrollment", distinct=True))
        .order_by()
    }
    out = {}
    for event in events:
        try:
            topic = EventKey.parse(event.key).topic
        except EventKeyError:
            continue
        n = counts.get((NOTIFICATION_KINDS.get(event.kind), topic, event.at))
        if n:
            out[event.pk] = f"{n} notification{'s' if n != 1 else ''}"
    return out


class CohortForm(ChatWebhookURLCheck, forms.ModelForm):
    class Meta:
        model = Cohort
        fields = ("program", "name", "start_date", "timezone", "anchors", "speed", "chat_webhook_url")
        field_classes = {"chat_webhook_url": WebhookURLField}

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            # Refuse, naming the field, a calendar that would put an event before the start or close a
            # window before it opens, before anything is saved or sent to Beat.
            candidate = copy.copy(self.instance)
            for name in self.fields:
                if name in data:
                    setattr(candidate, name, data[name])
            try:
                # Field validators (zone, anchor dates) normally run after clean(); the calendar needs them first.
                candidate.clean_fields(exclude=[f.name for f in Cohort._meta.fields if f.name not in data])
                services.require_anchors(candidate)
                # A new zone keeps staff-moved events at their local wall time, as cohort_update does.
                moved_zone = self.instance.pk and candidate.timezone != self.instance.timezone
                calendar.check(candidate, zone_was=self.instance.zone if moved_zone else None)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    # A problem with one of the cohort's moved events is the form's, not a field's.
                    self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(Cohort)
class CohortAdmin(RefusalsAsMessages, admin.ModelAdmin):
    list_display = ("name", "program", "start_date", "timezone", "status", "speed", "calendar_link")
    list_filter = ("status", "program")
    search_fields = ("name",)
    readonly_fields = ("status", "rehearsal_epoch", "created_at")
    form = CohortForm
    inlines = (EnrollmentInline,)
    actions = ("pause", "resume")
    change_form_template = "admin/cohorts/cohort/change_form.html"  # adds a "Calendar" button

    def get_urls(self) -> list:
        calendar_url = path(
            "<path:object_id>/calendar/",
            self.admin_site.admin_view(self.calendar_view),
            name="cohorts_cohort_calendar",
        )
        return [calendar_url, *super().get_urls()]

    @admin.display(description="calendar")
    def calendar_link(self, cohort: Cohort) -> str:
        return format_html(
            '<a href="{}">Calendar</a>', reverse("admin:cohorts_cohort_calendar", args=[cohort.pk])
        )

    def calendar_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The cohort's calendar: its events by week, each with its local and real time, state, Beat
        entry, a link to move it and what it produced."""
        cohort = self.get_object(request, object_id)
        if cohort is None:
            raise Http404(f"No cohort with id {object_id!r}.")
        if not self.has_view_or_change_permission(request, cohort):
            raise Http404(f"No cohort with id {object_id!r}.")
        page = selectors.calendar_weeks(
            cohort=cohort, now=clock.now(), effects=(transitions_read, notifications_read)
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "cohort": cohort,
            "page": page,
            "title": f"{cohort.name}: calendar",
            "subtitle": None,
            "is_nav_sidebar_enabled": False,  # the calendar needs the page's full width (1,400 px)
            "can_move": self.admin_site._registry[CohortEvent].has_change_permission(request),
            "state_order": list(selectors.EventState),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/cohorts/cohort/calendar.html", context)

    def save_model(self, request: HttpRequest, obj: Cohort, form, change: bool) -> None:
        # Through the services: the row is locked and only the fields this form changed are written
        # (a pause committed while the form was open stays), and the calendar follows in Beat.
        data = {name: form.cleaned_data[name] for name in services.COHORT_FIELDS if name in form.cleaned_data}
        if change:
            services.cohort_update(cohort=obj, **{k: v for k, v in data.items() if k in form.changed_data})
        else:
            obj.pk = services.cohort_create(**data).pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change) -> None:
        sync.lock(form.instance)  # the writers' lock order: the cohort row before the learners' rows
        before = dates_snapshot(form.instance)  # learners regrouped here hear of their moved dates
        super().save_related(request, form, formsets, change)
        # Learners added or regrouped in the inline: group extensions follow them.
        sync.cohort_calendar_sync(cohort=form.instance, before=before)

    def get_deleted_objects(self, objs, request: HttpRequest) -> tuple:
        # A cohort's events go with it (staff may not delete one alone: the program plans them).
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(CohortEvent._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Cohort) -> None:
        services.cohort_delete(cohort=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for cohort in queryset:
            services.cohort_delete(cohort=cohort)

    @admin.action(description="Pause: disable every Beat entry of the cohort")
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, services.cohort_pause, "paused")

    @admin.action(description="Resume: re-enable future entries (the reconciler carries out missed ones)")
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, services.cohort_resume, "resumed")

    def _each(self, request: HttpRequest, queryset: QuerySet, service, verb: str) -> None:
        for cohort in queryset:
            try:
                service(cohort=cohort)
            except ValidationError as exc:
                self.message_user(request, f"{cohort}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{cohort}: {verb}")
