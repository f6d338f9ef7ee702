"""WindowTransition (a window opened / passed due / closed) and Submission (what a learner handed in)."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from cohorts.models import Cohort, Enrollment
from programs.models import Project


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

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "project", "commit_sha"], name="submission_unique_commit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.key} by {self.enrollment.email} @ {self.commit_sha[:7]}"
