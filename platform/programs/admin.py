"""Admin for program templates."""

from django.contrib import admin

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
