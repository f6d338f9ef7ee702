"""Admin for window transitions and submissions."""

from django.contrib import admin

from submissions.models import Submission, WindowTransition


@admin.register(WindowTransition)
class WindowTransitionAdmin(admin.ModelAdmin):
    list_display = ("cohort", "project", "kind", "enrollment", "at", "recorded_at")
    list_filter = ("kind", "cohort")


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("project", "enrollment", "commit_sha", "submitted_at", "late")
    list_filter = ("late", "project")
