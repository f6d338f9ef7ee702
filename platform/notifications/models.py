"""The outbox: one row per notification to deliver, unique by (kind, learner, subject, effective date, channel)."""

from datetime import time

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from cohorts.models import Cohort, Enrollment


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    INAPP = "inapp", "In-app feed"
    CHAT = "chat", "Chat webhook"


class Notification(models.Model):
    class Kind(models.TextChoices):
        UNIT_UNLOCKED = "unit_unlocked", "Unit unlocked"
        WINDOW_OPENED = "window_opened", "Window opened"
        REMINDER = "reminder", "Reminder"
        DUE_PASSED = "due_passed", "Due passed"
        WINDOW_CLOSED = "window_closed", "Window closed"
        EXTENSION_GRANTED = "extension_granted", "Extension granted"
        DATE_CHANGED = "date_changed", "A date changed"
        CI_FAILED = "ci_failed", "CI failed"
        CI_PASSED = "ci_passed", "CI passed"
        REPOSITORY_READY = "repository_ready", "Repository ready"
        DIGEST = "digest", "Daily digest"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting to be claimed (from not_before on, when set)
        SENDING = "sending", "Sending"  # claimed by a sender until lease_until; then claimable again
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # a permanent error, or transient ones past the last attempt
        SUPPRESSED = "suppressed", "Suppressed"  # decided not to send (kept as history)
        HELD = "held", "Held"  # kept back (hold_reason): quiet hours until not_before, or for the digest

    class HoldReason(models.TextChoices):
        NONE = "", "-"
        QUIET_HOURS = "quiet_hours", "Quiet hours"  # released to pending at not_before
        CAP = "cap", "Hourly cap"  # goes out in the next digest
        DIGEST = "digest", "Digest preference"  # goes out in the next digest

    kind = models.CharField(max_length=32, choices=Kind.choices)
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="notifications")
    enrollment = models.ForeignKey(
        Enrollment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        help_text="Empty for a cohort-wide announcement (the cohort's chat webhook).",
    )
    subject = models.CharField(
        max_length=120, help_text="What it is about: a unit or project key (+ offset)."
    )
    effective_at = models.DateTimeField(help_text="The calendar instant of the effect (UTC).")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    payload = models.JSONField(default=dict, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Not sent before this instant (a retry's backoff)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    hold_reason = models.CharField(max_length=16, choices=HoldReason.choices, blank=True, default="")
    digest = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="digested",
        help_text="The digest email this held row went out in.",
    )
    read_at = models.DateTimeField(null=True, blank=True, help_text="In-app: when the learner read it.")
    lease_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A sending row whose lease ran out (its sender died) is claimed again.",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    rendered_subject = models.CharField(max_length=255, blank=True, default="")
    rendered_body = models.TextField(blank=True, default="", help_text="The plain-text part, as sent.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "enrollment", "subject", "effective_at", "channel"],
                name="notification_unique_effect",
            ),
            models.UniqueConstraint(
                fields=["kind", "cohort", "subject", "effective_at", "channel"],
                condition=Q(enrollment__isnull=True),
                name="notification_unique_announcement",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "not_before"], name="notification_pending_idx"),
            models.Index(fields=["status", "lease_until"], name="notification_lease_idx"),
            models.Index(fields=["enrollment", "channel", "-created_at"], name="notification_feed_idx"),
        ]

    def __str__(self) -> str:
        to = self.enrollment.email if self.enrollment_id else f"cohort {self.cohort_id}"
        return f"{self.kind} {self.subject} -> {to} ({self.channel})"


class Preference(models.Model):
    """A learner's choice for one kind on one channel; no row means the default (immediately)."""

    class Mode(models.TextChoices):
        IMMEDIATELY = "immediately", "Immediately"
        DIGEST = "digest", "In the daily digest"
        OFF = "off", "Off"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="preferences")
    kind = models.CharField(max_length=32, choices=Notification.Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.IMMEDIATELY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "kind", "channel"], name="preference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.enrollment.email}: {self.kind} by {self.channel} {self.mode}"

    def clean(self) -> None:
        if self.mode == self.Mode.DIGEST and self.channel != Channel.EMAIL:
            raise ValidationError({"mode": "Only email has a daily digest: choose Immediately or Off."})


class QuietHours(models.Model):
    """A learner's quiet hours, in their local time; no row means the default (22:00-07:00, reminders)."""

    enrollment = models.OneToOneField(Enrollment, on_delete=models.CASCADE, related_name="quiet_hours")
    enabled = models.BooleanField(
        default=True, help_text="Off: nothing is held at night for this learner (their own choice)."
    )
    start = models.TimeField(default=time(22, 0))
    end = models.TimeField(default=time(7, 0))
    kinds = models.JSONField(
        default=list, blank=True, help_text="The kinds held during quiet hours; empty: every kind."
    )

    class Meta:
        verbose_name = "quiet hours"
        verbose_name_plural = "quiet hours"

    def __str__(self) -> str:
        if not self.enabled:
            return f"{self.enrollment.email}: no quiet hours"
        return f"{self.enrollment.email}: quiet {self.start:%H:%M}-{self.end:%H:%M}"


class TemplateOverride(models.Model):
    """Staff's own wording for one kind and channel, in Django template language."""

    kind = models.CharField(max_length=32, choices=Notification.Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    subject = models.CharField(max_length=255, blank=True, help_text="Empty: the built-in subject.")
    text = models.TextField(help_text="The plain-text body (Django template language).")
    html = models.TextField(blank=True, help_text="Empty: the plain text, escaped, in the built-in layout.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "channel"], name="template_override_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.channel})"
