"""Delivery (one signed GitHub delivery as it reached us) and Hook (a GitHub webhook that pinged us)."""

from django.db import models


class Delivery(models.Model):
    class State(models.TextChoices):
        RECEIVED = "received", "Received"  # stored and acknowledged; waiting for a drain or a sweep
        PROCESSING = "processing", "Processing"  # claimed by a worker until claimed_at + the lease
        DONE = "done", "Done"
        FAILED = "failed", "Failed"  # see error; the admin's "process again" puts it back

    class Outcome(models.TextChoices):
        HANDLED = "handled", "Handled"
        IGNORED = "ignored", "Ignored (known event, nothing to do)"
        UNSUPPORTED = "unsupported", "Unsupported event"

    delivery_id = models.CharField(max_length=64, unique=True, help_text="GitHub's X-GitHub-Delivery.")
    event = models.CharField(max_length=64, help_text="X-GitHub-Event.")
    action = models.CharField(max_length=64, blank=True)
    repository = models.CharField(max_length=140, blank=True, help_text="owner/name, as GitHub sent it.")
    hook_id = models.BigIntegerField(null=True, blank=True, help_text="X-GitHub-Hook-ID.")
    received_at = models.DateTimeField(help_text="When it reached us (UTC).")
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["state", "id"], name="delivery_state_idx")]

    def __str__(self) -> str:
        label = f"{self.event}.{self.action}" if self.action else self.event
        return f"{label} {self.delivery_id}"


class Hook(models.Model):
    """A webhook GitHub told us about with a signed ping: verified once its ping reached us."""

    hook_id = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=32, blank=True, help_text="Repository, Organization or App.")
    target = models.CharField(max_length=140, blank=True, help_text="owner/name or the organisation.")
    events = models.JSONField(default=list, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True, help_text="When its ping reached us (UTC).")

    class Meta:
        ordering = ["target", "hook_id"]

    def __str__(self) -> str:
        return f"hook {self.hook_id} ({self.target or self.kind})"
