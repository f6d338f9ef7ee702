"""Admin for cohorts: saving goes through the services, so Beat follows every edit."""

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from cohorts import calendar, services, sync
from cohorts.models import Cohort, CohortEvent, Enrollment, Extension, Release


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    fields = ("email", "user", "timezone", "github_login", "group")
    raw_id_fields = ("user",)
    extra = 0


class CohortForm(forms.ModelForm):
    class Meta:
        model = Cohort
        fields = ("program", "name", "start_date", "timezone", "anchors", "speed")

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
                calendar.check(candidate)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    # A problem with one of the cohort's moved events is the form's, not a field's.
                    self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ("name", "program", "start_date", "timezone", "status", "speed")
    list_filter = ("status", "program")
    search_fields = ("name",)
    readonly_fields = ("status", "rehearsal_epoch", "created_at")
    form = CohortForm
    inlines = (EnrollmentInline,)
    actions = ("pause", "resume")

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
        super().save_related(request, form, formsets, change)
        # Learners added or regrouped in the inline: group extensions follow them.
        sync.cohort_calendar_sync(cohort=form.instance)

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


class ExtensionForm(forms.ModelForm):
    class Meta:
        model = Extension
        fields = services.EXTENSION_FIELDS

    def _post_clean(self) -> None:
        super()._post_clean()
        if not self.errors:
            # The service's rules (at least as lenient as the cohort's effective window) as form errors.
            try:
                services.extension_validate(self.instance)
            except ValidationError as exc:
                self._update_errors(exc)


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    list_display = ("cohort", "project", "enrollment", "group", "due_at", "cutoff_at", "granted_by")
    list_filter = ("cohort",)
    raw_id_fields = ("enrollment",)
    form = ExtensionForm

    def save_model(self, request: HttpRequest, obj: Extension, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in services.EXTENSION_FIELDS}
        if change:
            # Re-syncs the extension's cohort, and its former one when it moved to another cohort.
            services.extension_update(extension=obj, **data)
        else:
            obj.pk = services.extension_grant(**data, granted_by=request.user).pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Extension) -> None:
        services.extension_revoke(extension=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for extension in queryset:
            services.extension_revoke(extension=extension)


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("cohort", "unit", "released_at")
    list_filter = ("cohort",)
