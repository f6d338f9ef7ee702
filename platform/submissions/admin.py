"""Admin for window transitions and submissions: read-only records, times in the cohort's zone."""

from datetime import datetime

from django.contrib import admin
from django.http import HttpRequest

from cohorts.models import Cohort
from submissions.models import Submission, WindowTransition


def _local(cohort: Cohort, at: datetime | None) -> str:
    return cohort.local(at).strftime("%Y-%m-%d %H:%M %Z") if at else "-"


class ReadOnly:
    """Records the calendar and the submission service write; an edit by hand would bypass their rules.

    Deleting stays allowed: the admin refuses to delete a cohort whose related rows staff may not delete.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WindowTransition)
class WindowTransitionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("cohort", "project", "kind", "learner", "local_at", "recorded")
    list_filter = ("kind", "cohort")
    list_select_related = ("cohort", "project", "enrollment")
    search_fields = ("enrollment__email", "project__key")

    @admin.display(description="learner", ordering="enrollment__email")
    def learner(self, transition: WindowTransition) -> str:
        return transition.enrollment.email if transition.enrollment_id else "whole cohort"

    @admin.display(description="at (cohort's zone)", ordering="at")
    def local_at(self, transition: WindowTransition) -> str:
        return _local(transition.cohort, transition.at)

    @admin.display(description="recorded at (cohort's zone)", ordering="recorded_at")
    def recorded(self, transition: WindowTransition) -> str:
        return _local(transition.cohort, transition.recorded_at)


@admin.register(Submission)
class SubmissionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("learner", "project", "commit", "late", "submitted", "calendar")
    list_filter = ("late", ("enrollment__cohort", admin.RelatedOnlyFieldListFilter), "project")
    list_select_related = ("enrollment__cohort", "project")
    search_fields = ("enrollment__email", "commit_sha", "project__key")

    @admin.display(description="learner", ordering="enrollment__email")
    def learner(self, submission: Submission) -> str:
        return submission.enrollment.email

    @admin.display(description="commit", ordering="commit_sha")
    def commit(self, submission: Submission) -> str:
        return submission.commit_sha[:7]

    @admin.display(description="submitted at (cohort's zone)", ordering="submitted_at")
    def submitted(self, submission: Submission) -> str:
        return _local(submission.enrollment.cohort, submission.submitted_at)

    @admin.display(description="calendar at (cohort's zone)", ordering="calendar_at")
    def calendar(self, submission: Submission) -> str:
        return _local(submission.enrollment.cohort, submission.calendar_at)
