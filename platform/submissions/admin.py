"""Admin for window transitions, submissions and learners' repositories (with a retry action)."""

from datetime import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from cohorts.models import Cohort
from submissions.models import LearnerRepository, Submission, WindowTransition
from submissions.repositories import repositories_retry
from tasks.enqueue import enqueue_or_leave_to_sweep
from tasks.github_api import provision


def _local(cohort: Cohort, at: datetime | None) -> str:
    return cohort.local(at).strftime("%Y-%m-%d %H:%M %Z") if at else "-"


# Long names and errors wrap, so the lists fit a 1,400 px screen.
LIST_CSS = "core/admin-lists.css"


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
    class Media:
        css = {"all": (LIST_CSS,)}

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
    class Media:
        css = {"all": (LIST_CSS,)}

    list_display = ("learner", "project", "commit", "late", "ci_status", "graded", "submitted", "calendar")
    list_filter = (
        "late",
        "ci_status",
        ("graded_at", admin.EmptyFieldListFilter),
        ("enrollment__cohort", admin.RelatedOnlyFieldListFilter),
        "project",
    )
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

    @admin.display(description="graded at (cohort's zone)", ordering="graded_at")
    def graded(self, submission: Submission) -> str:
        return _local(submission.enrollment.cohort, submission.graded_at)


@admin.register(LearnerRepository)
class LearnerRepositoryAdmin(ReadOnly, admin.ModelAdmin):
    """Learners' repositories made from their project's template: what failed, and why, with a retry."""

    class Media:
        css = {"all": (LIST_CSS,)}

    list_display = ("learner", "project", "repository", "state_and_attempts", "short_error", "updated")
    list_filter = ("state", ("enrollment__cohort", admin.RelatedOnlyFieldListFilter), "project")
    list_select_related = ("enrollment__cohort", "project")
    search_fields = ("enrollment__email", "enrollment__github_login", "full_name")
    actions = ("retry",)

    @admin.display(description="learner", ordering="enrollment__email")
    def learner(self, row: LearnerRepository) -> str:
        login = row.enrollment.github_login or "no GitHub login"
        return f"{row.enrollment.email} ({login})"

    @admin.display(description="repository", ordering="full_name")
    def repository(self, row: LearnerRepository) -> str:
        if row.html_url:
            return format_html('<a href="{}">{}</a>', row.html_url, row.full_name)
        return row.full_name or "-"

    @admin.display(description="state", ordering="state")
    def state_and_attempts(self, row: LearnerRepository) -> str:
        label = row.get_state_display()
        if not row.attempts:
            return label
        return f"{label} ({row.attempts} attempt{'' if row.attempts == 1 else 's'})"

    @admin.display(description="error")
    def short_error(self, row: LearnerRepository) -> str:
        return row.last_error[:120]

    @admin.display(description="updated (cohort's zone)", ordering="updated_at")
    def updated(self, row: LearnerRepository) -> str:
        return _local(row.enrollment.cohort, row.updated_at)

    @admin.action(description="Retry creating the selected repositories")
    def retry(self, request: HttpRequest, queryset: QuerySet[LearnerRepository]) -> None:
        ids = repositories_retry(repository_ids=list(queryset.values_list("pk", flat=True)))
        published = enqueue_or_leave_to_sweep(provision, ids) if ids else True
        skipped = queryset.count() - len(ids)
        message = f"{len(ids)} repositor{'y' if len(ids) == 1 else 'ies'} queued to be created again."
        if not published:
            message += (
                " The broker is unreachable right now, so the periodic provisioning (every "
                f"{settings.NEXUS_GITHUB_PROVISION_EVERY} s) will create them once it is back."
            )
        if skipped:
            message += f" {skipped} already ready: left alone."
        self.message_user(request, message, messages.SUCCESS if ids else messages.WARNING)
