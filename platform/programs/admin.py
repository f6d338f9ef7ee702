"""Admin for program templates: every save that can move a date goes through a service that re-syncs
every cohort of the program, and a change some cohort's calendar would refuse is a form error."""

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from cohorts.services import program_change_check, program_cohorts_resync, project_save, unit_save
from programs.models import ContentItem, Program, Project, Unit


class UnitInline(admin.TabularInline):
    model = Unit
    fields = ("position", "key", "title", "unlock")
    extra = 0


class ProjectInline(admin.TabularInline):
    model = Project
    fields = ("position", "key", "title", "unit", "opens", "due", "cutoff", "grace", "reminders")
    extra = 0


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "updated_at")
    search_fields = ("slug", "name")
    inlines = (UnitInline, ProjectInline)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # An edited date moves every cohort's Beat entries, as program_load does.
        program_cohorts_resync(program=form.instance)


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


class ContentInline(admin.TabularInline):
    model = ContentItem
    fields = ("position", "key", "title", "body")
    extra = 0


class _ResyncingAdmin(admin.ModelAdmin):
    form = CohortSafeForm
    save_service = None

    def save_model(self, request, obj, form, change: bool) -> None:
        count = type(self).save_service(obj)
        self.message_user(request, f"{count} cohort calendar(s) re-synced with Beat.", messages.INFO)


@admin.register(Unit)
class UnitAdmin(_ResyncingAdmin):
    list_display = ("title", "program", "key", "unlock")
    list_filter = ("program",)
    inlines = (ContentInline,)

    @staticmethod
    def save_service(unit: Unit) -> int:
        return unit_save(unit=unit)


@admin.register(Project)
class ProjectAdmin(_ResyncingAdmin):
    list_display = ("title", "program", "key", "opens", "due", "cutoff", "grace")
    list_filter = ("program",)

    @staticmethod
    def save_service(project: Project) -> int:
        return project_save(project=project)
