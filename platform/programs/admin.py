"""Admin for program templates."""

from django.contrib import admin

from cohorts.services import program_cohorts_resync
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


class ContentInline(admin.TabularInline):
    model = ContentItem
    fields = ("position", "key", "title", "body")
    extra = 0


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ("title", "program", "key", "unlock")
    list_filter = ("program",)
    inlines = (ContentInline,)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("title", "program", "key", "opens", "due", "cutoff", "grace")
    list_filter = ("program",)
