"""The outbox: one row per notification to deliver, unique by (kind, learner, subject, effective date, channel)."""

from django.db import models

from cohorts.models import Enrollment


class Notification(models.Model):
    class Kind(models.TextChoices):
        UNIT_UNLOCKED = "unit_unlocked", "Unit unlocked"
        WINDOW_OPENED = "window_opened", "Window opened"
        REMINDER = "reminder", "Reminder"
        DUE_PASSED = "due_passed", "Due passed"
        WINDOW_CLOSED = "window_closed", "Window closed"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting to be claimed (from not_before on, when set)
        SENDING = "sending", "Sending"  # claimed by a sender until lease_until; then claimable again
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # a permanent error, or transient ones past the last attempt
        SUPPRESSED = "suppressed", "Suppressed"  # decided not to send (kept as history)
        HELD = "held", "Held"  # kept back by staff; not sent until released

    kind = models.CharField(max_length=32, choices=Kind.choices)
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="notifications")
    subject = models.CharField(
        max_length=120, help_text="What it is about: a unit or project key (+ offset)."
    )
    effective_at = models.DateTimeField(help_text="The calendar instant of the effect (UTC).")
    channel = models.CharField(max_length=16, default="email")
    payload = models.JSONField(default=dict, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Not sent before this instant (a retry's backoff)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
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
            )
        ]
        indexes = [
            models.Index(fields=["status", "not_before"], name="notification_pending_idx"),
            models.Index(fields=["status", "lease_until"], name="notification_lease_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} -> {self.enrollment.email}"
