"""Admin for window transitions, submissions and learners' repositories (with a retry action)."""

from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from cohorts.models import Cohort
from core.github_names import repository_full_name
from submissions.models import LearnerRepository, Submission, WindowTransition
from submissions.repositories import repositories_retry, repository_link
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


class LinkRepositoryForm(forms.ModelForm):
    """Staff link a learner's existing repository (no template, or made outside Nexus): checked by
    submissions.repositories.repository_link, whose errors name the field."""

    full_name = forms.CharField(
        label="Repository",
        max_length=200,
        help_text="owner/name on GitHub, or its https://github.com/ address.",
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )

    class Meta:
        model = LearnerRepository
        fields = ("enrollment", "project", "full_name", "default_branch")
        help_texts = {"default_branch": "The branch whose last push before the due is graded."}

    def clean_full_name(self) -> str:
        try:
            return repository_full_name(self.cleaned_data["full_name"])
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def clean(self) -> dict:
        data = super().clean()
        enrollment = self.instance.enrollment if self.instance.pk else data.get("enrollment")
        project = self.instance.project if self.instance.pk else data.get("project")
        if enrollment is None or project is None or self.errors:
            return data
        if not self.instance.pk:
            # The learner's row for the project (one the template could not make) is replaced, not
            # refused as a duplicate: the form edits it.
            self.instance = LearnerRepository.objects.filter(
                enrollment=enrollment, project=project
            ).first() or (self.instance)
        try:
            with transaction.atomic():  # tried here for its errors, undone; save_model links it
                repository_link(
                    enrollment=enrollment,
                    project=project,
                    full_name=data["full_name"],
                    default_branch=data.get("default_branch", ""),
                )
                transaction.set_rollback(True)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(LearnerRepository)
class LearnerRepositoryAdmin(admin.ModelAdmin):
    """Learners' repositories: made from their project's template (what failed, and why, with a retry),
    or linked by hand (Add, or change the repository of one)."""

    class Media:
        css = {"all": (LIST_CSS,)}

    form = LinkRepositoryForm

    list_display = ("learner", "project", "repository", "state_and_attempts", "short_error", "updated")
    list_filter = ("state", ("enrollment__cohort", admin.RelatedOnlyFieldListFilter), "project")
    list_select_related = ("enrollment__cohort", "project")
    search_fields = ("enrollment__email", "enrollment__github_login", "full_name")
    actions = ("retry",)
    autocomplete_fields = ("enrollment",)
    readonly_fields = ("state", "attempts", "collaborator_added", "last_error", "html_url", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: LearnerRepository | None = None) -> tuple:
        # A repository belongs to one learner and project: to move it, delete it and link it again.
        return (("enrollment", "project") if obj else ()) + self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: LearnerRepository | None = None) -> tuple:
        linked = ("enrollment", "project", "full_name", "default_branch")
        return linked + (self.readonly_fields if obj else ())

    def save_model(self, request: HttpRequest, obj: LearnerRepository, form, change: bool) -> None:
        linked = repository_link(
            enrollment=obj.enrollment,
            project=obj.project,
            full_name=form.cleaned_data["full_name"],
            default_branch=form.cleaned_data["default_branch"],
        )
        obj.pk = linked.repository.pk
        if linked.past_cutoff:
            who = f"{obj.enrollment.email}'s cut-off for {obj.project.key} has passed"
            if linked.graded_sha:
                told = f"{who}: their graded commit is now {linked.graded_sha[:12]}, the last push to "
                told += f"{linked.repository.full_name} received before their due."
            else:
                told = f"{who}, and no push to {linked.repository.full_name} reached Nexus before their due: "
                told += "their graded commit is unchanged."
            self.message_user(request, told, messages.INFO if linked.graded_sha else messages.WARNING)

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
