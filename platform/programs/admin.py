"""Admin for program templates: every save that can move a date goes through a service that re-syncs
every cohort of the program, and a change some cohort's calendar would refuse is a form error naming
the cohort (tried first in a savepoint, then rolled back), never a 500."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from cohorts.services import (
    program_change_check,
    program_edit,
    project_delete,
    project_save,
    unit_delete,
    unit_save,
)
from core.admin_refusals import RefusalsAsMessages, refusal_as_message
from programs.forms import ProgramForm, ProjectForm, UnitForm
from programs.models import ContentItem, Program, Project, Unit
from programs.selectors import default_anchors, next_monday, program_schedule_preview, program_zone

# Inline columns stay narrow so the Program page fits a 1,400 px screen.
_SHORT = {
    "position": forms.NumberInput(attrs={"style": "width: 3.5em"}),
    "key": forms.TextInput(attrs={"size": 12}),
    "title": forms.TextInput(attrs={"size": 30}),
}
_DATE = forms.TextInput(attrs={"size": 16, "placeholder": "week 0 mon 09:00"})


class WholeProgramFormSet(BaseInlineFormSet):
    """An inline of the Program page. The last one checks the whole submitted program (its fields and
    every inline row) against every cohort not finished, in a savepoint, before anything is saved."""

    program_check = None

    def clean(self) -> None:
        super().clean()
        # _errors holds the rows' errors (rows marked for deletion left out) before clean() runs.
        if self.program_check is not None and not any(self._errors):
            self.program_check()


def _row_link(obj: Unit | Project, text: str) -> str:
    if not obj.pk:
        return ""
    url = reverse(f"admin:programs_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text)


class UnitInline(admin.TabularInline):
    model = Unit
    form = UnitForm
    formset = WholeProgramFormSet
    fields = ("position", "key", "title", "unlock", "more")
    readonly_fields = ("more",)
    extra = 0

    @admin.display(description="")
    def more(self, obj: Unit) -> str:
        # Summary, phase and content are edited on the unit's own page, which keeps these rows short.
        return _row_link(obj, "more…")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("widgets", {**_SHORT, "unlock": _DATE})
        return super().get_formset(request, obj, **kwargs)


class ProjectInline(admin.TabularInline):
    model = Project
    form = ProjectForm
    formset = WholeProgramFormSet
    fields = ("position", "key", "title", "unit", "opens", "due", "cutoff", "grace", "reminders", "more")
    readonly_fields = ("more",)
    extra = 0

    @admin.display(description="")
    def more(self, obj: Project) -> str:
        return _row_link(obj, "more…")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        widgets = {**_SHORT, "title": forms.TextInput(attrs={"size": 16})}
        widgets.update(opens=_DATE, due=_DATE, cutoff=_DATE)
        kwargs.setdefault("widgets", widgets)
        formset = super().get_formset(request, obj, **kwargs)
        # A project's unit is one of this program's units (all units on a new program: none exist yet).
        units = formset.form.base_fields["unit"]
        units.queryset = Unit.objects.filter(program=obj) if obj is not None else Unit.objects.none()
        units.widget.can_add_related = units.widget.can_change_related = False
        units.widget.can_view_related = units.widget.can_delete_related = False
        units.widget.widget.attrs["style"] = "max-width: 8.5em"
        units.label_from_instance = lambda unit: unit.key
        return formset


def _trial_save(program: Program, formsets: list) -> None:
    """Write the submitted program and rows as the admin's save would, on copies (the real save, if
    the check passes, still works on the untouched forms)."""
    copy.copy(program).save()
    for formset in formsets:
        for form in formset.initial_forms:
            if not form.instance.pk:
                continue
            if formset.can_delete and formset._should_delete_form(form):
                type(form.instance).objects.filter(pk=form.instance.pk).delete()
            elif type(form.instance).objects.filter(pk=form.instance.pk).exists():
                copy.copy(form.instance).save()
        for form in formset.extra_forms:
            if form.has_changed() and not (formset.can_delete and formset._should_delete_form(form)):
                row = copy.copy(form.instance)
                row.program = program
                row.save()


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    form = ProgramForm
    list_display = ("slug", "name", "timezone_hint", "updated_at")
    search_fields = ("slug", "name")
    fieldsets = (
        (
            None,
            {"fields": (("slug", "name"), ("timezone_hint", "anchors", "default_reminders"), "description")},
        ),
    )
    inlines = (UnitInline, ProjectInline)
    change_form_template = "admin/programs/program/change_form.html"

    def _create_formsets(self, request: HttpRequest, obj: Program, change: bool) -> tuple:
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        if request.method == "POST" and change and formsets:
            # all_valid() validates the inlines in order, after the program form: the last one runs the
            # check when every row is valid, so a refusal re-renders the page with everything typed.
            formsets[-1].program_check = lambda: self._check_program(obj, formsets)
        return formsets, inline_instances

    @staticmethod
    def _check_program(program: Program, formsets: list) -> None:
        if not getattr(program, "admin_form_valid", False):
            return
        if any(not formset.is_valid() for formset in formsets[:-1]):
            return
        try:
            program_change_check(program=program, apply=lambda: _trial_save(program, formsets))
        except ValidationError as exc:
            raise ValidationError(
                [f"Nothing was saved: {message}" for message in exc.messages], code="cohort"
            ) from exc

    def save_model(self, request: HttpRequest, obj: Program, form: Any, change: bool) -> None:
        pass  # saved with its rows in save_related, through program_edit (one transaction, re-synced)

    def save_related(self, request: HttpRequest, form: Any, formsets: list, change: bool) -> None:
        def apply() -> None:
            form.instance.save()
            super(ProgramAdmin, self).save_related(request, form, formsets, change)

        summary = program_edit(program=form.instance, apply=apply)
        self.message_user(request, f"{summary}.", messages.INFO)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        return refusal_as_message(
            self,
            request,
            lambda: super(ProgramAdmin, self).changeform_view(
                request,
                object_id,
                form_url,
                # The inlines and the preview need the width the navigation sidebar would take.
                {
                    **(extra_context or {}),
                    "is_nav_sidebar_enabled": False,
                    **self._preview(request, object_id),
                },
            ),
        )

    def _preview(self, request: HttpRequest, object_id: str | None) -> dict:
        program = self.get_object(request, unquote(object_id)) if object_id else None
        if program is None:
            return {}
        zone, _ = program_zone(program)
        errors = []
        start = _date_param(request, "preview_start", errors, "start") or next_monday(zone)
        anchors = {}
        for name, default in default_anchors(program, start).items():
            anchors[name] = _date_param(request, f"preview_{name}", errors, name) or default
        preview = program_schedule_preview(program=program, start=start, anchors=anchors)
        return {"schedule_preview": preview, "preview_errors": errors}


def _date_param(request: HttpRequest, name: str, errors: list, label: str) -> date | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{label}: '{value}' is not a date (YYYY-MM-DD); showing the default.")
        return None


class CohortSafeForm(forms.ModelForm):
    """Refuses, as a form error naming the cohort, an edit that any cohort's calendar would refuse."""

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or not self.instance.program_id:
            return
        candidate = copy.copy(self.instance)
        try:
            program_change_check(program=self.instance.program, apply=candidate.save)
        except ValidationError as exc:
            self.add_error(None, exc)


class CohortSafeUnitForm(CohortSafeForm, UnitForm):
    pass


class CohortSafeProjectForm(CohortSafeForm, ProjectForm):
    pass


class ContentInline(admin.TabularInline):
    model = ContentItem
    fields = ("position", "key", "title", "body")
    extra = 0


class _ResyncingAdmin(RefusalsAsMessages, admin.ModelAdmin):
    save_service = None
    delete_service = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        # A unit or project stays in its program: moving it would leave the former program's cohorts
        # with events for something they no longer have.
        return (*super().get_readonly_fields(request, obj), *(("program",) if obj is not None else ()))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        summary = type(self).save_service(obj)
        self.message_user(request, f"{summary}.", messages.INFO)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        summary = type(self).delete_service(obj)
        self.message_user(request, f"{summary}.", messages.INFO)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Unit)
class UnitAdmin(_ResyncingAdmin):
    form = CohortSafeUnitForm
    list_display = ("title", "program", "key", "unlock")
    list_filter = ("program",)
    inlines = (ContentInline,)

    @staticmethod
    def save_service(unit: Unit) -> Any:
        return unit_save(unit=unit)

    @staticmethod
    def delete_service(unit: Unit) -> Any:
        return unit_delete(unit=unit)


@admin.register(Project)
class ProjectAdmin(_ResyncingAdmin):
    form = CohortSafeProjectForm
    list_display = ("title", "program", "key", "opens", "due", "cutoff", "grace")
    list_filter = ("program",)

    @staticmethod
    def save_service(project: Project) -> Any:
        return project_save(project=project)

    @staticmethod
    def delete_service(project: Project) -> Any:
        return project_delete(project=project)
