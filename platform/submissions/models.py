"""WindowTransition (a window opened / passed due / closed) and Submission (what a learner handed in)."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from cohorts.models import Cohort, Enrollment
from programs.models import Project


class CIStatus(models.TextChoices):
    NONE = "none", "No CI"
    PENDING = "pending", "Pending"
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    ERROR = "error", "Error"


class WindowTransition(models.Model):
    class Kind(models.TextChoices):
        OPEN = "open", "Opened"
        DUE = "due", "Passed due"
        CLOSE = "close", "Closed"

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="transitions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="transitions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    enrollment = models.ForeignKey(
        Enrollment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="Set for a learner's own (extended) due or close.",
    )
    at = models.DateTimeField(help_text="The calendar instant it took effect (UTC).")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cohort", "at"]
        constraints = [
            models.UniqueConstraint(
                fields=["cohort", "project", "kind"],
                condition=Q(enrollment__isnull=True),
                name="transition_unique_cohort",
            ),
            models.UniqueConstraint(
                fields=["cohort", "project", "kind", "enrollment"],
                condition=Q(enrollment__isnull=False),
                name="transition_unique_learner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.key} {self.kind} for {self.cohort}"


class Submission(models.Model):
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="submissions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="submissions")
    repository_url = models.URLField(max_length=300)
    commit_sha = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(r"^[0-9a-f]{7,40}$", "A commit SHA is 7 to 40 lowercase hexadecimal characters.")
        ],
    )
    submitted_at = models.DateTimeField(help_text="Real instant received (UTC).")
    calendar_at = models.DateTimeField(
        help_text="The calendar instant it counts at (differs when rehearsing)."
    )
    late = models.BooleanField(default=False)
    repository = models.ForeignKey(
        "LearnerRepository",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="submissions",
        help_text="The learner's repository this commit is in.",
    )
    ci_status = models.CharField(max_length=8, choices=CIStatus.choices, default=CIStatus.NONE)
    ci_checked_at = models.DateTimeField(null=True, blank=True, help_text="When the CI status last changed.")
    graded_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when this commit was chosen as the graded one at the learner's cut-off.",
    )
    ci_notified = models.CharField(
        max_length=8, blank=True, default="", help_text="The final CI status the learner was told about."
    )

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "project", "commit_sha"], name="submission_unique_commit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.key} by {self.enrollment.email} @ {self.commit_sha[:7]}"


class LearnerRepository(models.Model):
    """A learner's GitHub repository for one project, made from the project's template or linked by hand."""

    class State(models.TextChoices):
        PENDING = "pending", "To create"
        READY = "ready", "Ready"  # created from the template, or an existing one adopted
        FAILED = "failed", "Failed"  # see last_error; the admin's retry action puts it back to pending

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="repositories")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="repositories")
    full_name = models.CharField(max_length=140, help_text="owner/name on GitHub.")
    default_branch = models.CharField(max_length=255, default="main")
    html_url = models.URLField(max_length=300, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    collaborator_added = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "learner repositories"
        ordering = ["project", "full_name"]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "project"], name="repository_unique_learner"),
        ]
        indexes = [models.Index(fields=["full_name"], name="repository_full_name_idx")]

    def __str__(self) -> str:
        return self.full_name


class Push(models.Model):
    """One push to a branch as it reached us (a webhook or a poll): the head it left and when we saw it."""

    repository = models.CharField(max_length=140, help_text="owner/name, as GitHub sent it.")
    branch = models.CharField(max_length=255)
    before = models.CharField(max_length=40, blank=True)
    after = models.CharField(max_length=40, help_text="The branch head after the push (all zeros: deleted).")
    commits = models.JSONField(default=list, blank=True, help_text="The SHAs the push carried.")
    forced = models.BooleanField(default=False)
    received_at = models.DateTimeField(help_text="When the push reached us (not the commits' author dates).")
    delivery_id = models.CharField(max_length=64, unique=True, help_text="GitHub's X-GitHub-Delivery.")

    class Meta:
        verbose_name_plural = "pushes"
        ordering = ["repository", "branch", "received_at"]
        indexes = [models.Index(fields=["repository", "branch", "received_at"], name="push_head_idx")]

    def __str__(self) -> str:
        return f"{self.repository}@{self.branch} -> {self.after[:7]}"


class CommitCheck(models.Model):
    """One check of a commit (check run, check suite, workflow run or job, or commit status) and its state."""

    class Source(models.TextChoices):
        CHECK_RUN = "check_run", "Check run"
        CHECK_SUITE = "check_suite", "Check suite"
        WORKFLOW_RUN = "workflow_run", "Workflow run"
        WORKFLOW_JOB = "workflow_job", "Workflow job"
        STATUS = "status", "Commit status"

    repository = models.CharField(max_length=140)
    sha = models.CharField(max_length=40)
    source = models.CharField(max_length=16, choices=Source.choices)
    name = models.CharField(max_length=255, help_text="Check or workflow name, or the status context.")
    external_id = models.CharField(max_length=64, help_text="GitHub's id, or the context for a status.")
    state = models.CharField(
        max_length=8,
        choices=[(c.value, c.label) for c in CIStatus if c != CIStatus.NONE],
        help_text="Normalised: pending, success, failure or error.",
    )
    conclusion = models.CharField(max_length=32, blank=True, help_text="GitHub's own status/conclusion.")
    updated_at = models.DateTimeField(help_text="GitHub's time for this state; an older update never wins.")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["repository", "sha", "source", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "sha", "source", "external_id"], name="commit_check_unique"
            )
        ]
        indexes = [models.Index(fields=["repository", "sha"], name="commit_check_sha_idx")]

    def __str__(self) -> str:
        return f"{self.repository}@{self.sha[:7]} {self.source} {self.name}: {self.state}"
