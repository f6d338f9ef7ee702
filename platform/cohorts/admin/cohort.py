"""The Cohort page: edits go through cohort_create / cohort_update; pause and resume actions."""

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from cohorts import calendar, services, sync
from cohorts.admin.learners import EnrollmentInline
from cohorts.models import Cohort


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
