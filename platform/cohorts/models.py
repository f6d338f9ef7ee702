"""Cohort, Enrollment, Extension, CohortEvent (the cohort's calendar) and Release (a unit unlocked)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from programs.models import Program, Project, Unit
from programs.relative import UnknownTimezoneError, resolve_zone

REHEARSAL_LEAD = timedelta(seconds=5)


def validate_timezone(value: str) -> None:
    try:
        resolve_zone(value)
    except UnknownTimezoneError as exc:
        raise ValidationError(str(exc)) from exc


def validate_anchors(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Anchors are a mapping of name to date, e.g. {'demo_day': '2027-04-30'}.")
    for name, raw in value.items():
        try:
            date.fromisoformat(str(raw))
        except ValueError as exc:
            raise ValidationError(f"Anchor '{name}': '{raw}' is not a date (YYYY-MM-DD).") from exc


def validate_finite(value: float) -> None:
    # NaN passes every comparison validator (nan < 1 is False), and inf makes the rehearsal clock overflow.
    if not math.isfinite(value):
        raise ValidationError(f"{value} is not a finite number.")


class Cohort(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="cohorts")
    name = models.CharField(max_length=120, unique=True)
    start_date = models.DateField(
        help_text="Day 0 of the calendar; week 0 is the Monday-Sunday week holding it."
    )
    timezone = models.CharField(max_length=64, validators=[validate_timezone], help_text="IANA zone")
    anchors = models.JSONField(default=dict, blank=True, validators=[validate_anchors])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    speed = models.FloatField(
        default=1.0,
        validators=[validate_finite, MinValueValidator(1.0), MaxValueValidator(10_000_000.0)],
        help_text="Rehearsal: seconds of calendar played per real second (1 = real time).",
    )
    rehearsal_epoch = models.DateTimeField(
        null=True, blank=True, help_text="Rehearsal: the real instant the calendar's day 0 00:00 maps to."
    )
    chat_webhook_url = models.URLField(
        max_length=500, blank=True, help_text="Optional: the cohort's Slack/Discord announcements webhook."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_date", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return resolve_zone(self.timezone)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.SCHEDULED, self.Status.RUNNING)

    def arm_rehearsal(self, now: datetime) -> None:
        """A rehearsal's clock starts a few seconds from now, so Beat has its entries before the first fires."""
        if self.speed != 1 and self.rehearsal_epoch is None:
            self.rehearsal_epoch = now + REHEARSAL_LEAD

    def anchor_dates(self) -> dict[str, date]:
        return {name: date.fromisoformat(str(raw)) for name, raw in (self.anchors or {}).items()}

    def origin(self) -> datetime:
        """Day 0 at 00:00 local, in UTC: where a rehearsal's clock starts."""
        return datetime.combine(self.start_date, time(0), tzinfo=self.zone).astimezone(UTC)

    def to_real(self, at: datetime) -> datetime:
        """The real instant a calendar instant happens at (the same one unless rehearsing)."""
        if self.speed == 1 or self.rehearsal_epoch is None:
            return at
        return self.rehearsal_epoch + (at - self.origin()) / self.speed

    def calendar_now(self, now: datetime) -> datetime:
        """The calendar instant a real instant stands for."""
        if self.speed == 1 or self.rehearsal_epoch is None:
            return now
        return self.origin() + (now - self.rehearsal_epoch) * self.speed

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)


class Enrollment(models.Model):
    """A learner in a cohort."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="enrollments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    email = models.EmailField()
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="The learner's own IANA zone; empty: the cohort's.",
    )
    github_login = models.CharField(
        max_length=39,
        blank=True,
        validators=[
            RegexValidator(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$", "Not a GitHub login.")
        ],
    )
    group = models.CharField(max_length=64, blank=True, help_text="For per-group extensions.")
    chat_webhook_url = models.URLField(
        max_length=500, blank=True, help_text="Optional: the learner's own Slack/Discord incoming webhook."
    )

    class Meta:
        ordering = ["cohort", "email"]
        constraints = [models.UniqueConstraint(fields=["cohort", "user"], name="enrollment_unique_user")]

    def __str__(self) -> str:
        return f"{self.email} in {self.cohort}"


class Extension(models.Model):
    """A later due and cut-off for one learner or one group; the most lenient applicable one wins."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="extensions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="extensions")
    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, null=True, blank=True, related_name="extensions"
    )
    group = models.CharField(max_length=64, blank=True)
    due_at = models.DateTimeField()
    cutoff_at = models.DateTimeField()
    reason = models.TextField()
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cohort", "project", "-created_at"]

    def __str__(self) -> str:
        who = self.enrollment.email if self.enrollment_id else f"group {self.group}"
        return f"{self.project.key} for {who}"

    def clean(self) -> None:
        if bool(self.enrollment_id) == bool(self.group):
            raise ValidationError(
                {"enrollment": "Give either a learner or a group, not both and not neither."}
            )
        if self.due_at and self.cutoff_at and self.due_at > self.cutoff_at:
            raise ValidationError({"due_at": "The extended due is after the extended cut-off."})
        if not (self.reason or "").strip():
            raise ValidationError({"reason": "Say why the extension is granted."})
        if self.cohort_id and self.project_id and self.project.program_id != self.cohort.program_id:
            raise ValidationError(
                {"project": f"'{self.project.key}' is not a project of {self.cohort.program}."}
            )
        if self.cohort_id and self.enrollment_id and self.enrollment.cohort_id != self.cohort_id:
            raise ValidationError(
                {"enrollment": f"{self.enrollment.email} is not a learner of {self.cohort}."}
            )


class CohortEvent(models.Model):
    """One dated effect of a cohort's calendar; mirrored by a Beat entry named cohort-<id>:<key>.

    Events belong to the program they were planned from: after a cohort changes program, the old
    program's done events stay as history and its pending ones are dropped.
    """

    class Kind(models.TextChoices):
        # In this order within one instant: a unit unlocks before its project opens, and a window is
        # reminded of, then due, then closed.
        UNLOCK = "unlock", "Unlock unit"
        OPEN = "open", "Open window"
        REMIND = "remind", "Remind"
        DUE = "due", "Pass due"
        CLOSE = "close", "Close window"

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"  # e.g. a reminder whose moment had passed when it was planned
        FAILED = "failed", "Failed"  # gave up after repeated errors; staff see the error

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="events")
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="+", help_text="The program it was planned from."
    )
    key = models.CharField(max_length=160)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    subject = models.CharField(max_length=80, help_text="The unit or project key.")
    enrollment = models.ForeignKey(
        Enrollment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
        help_text="Set for a learner's own (extended) event.",
    )
    scheduled_at = models.DateTimeField(help_text="When the program template puts it (UTC).")
    override_at = models.DateTimeField(
        null=True, blank=True, help_text="Moved for this cohort only (UTC); empty: the template's time."
    )
    fire_at = models.DateTimeField(help_text="The real instant Beat fires it (differs when rehearsing).")
    done_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was carried out, skipped or given up."
    )
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Failed attempts so far.")
    last_error = models.TextField(blank=True)
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="After a failure: not tried again before."
    )

    class Meta:
        ordering = ["fire_at", "key"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "program", "key"], name="cohort_event_unique_key")
        ]
        indexes = [models.Index(fields=["done_at", "fire_at"], name="cohort_event_due_idx")]

    def __str__(self) -> str:
        return f"{self.cohort}: {self.key}"

    @property
    def at(self) -> datetime:
        return self.override_at or self.scheduled_at

    @property
    def beat_entry(self) -> str:
        return beat_entry_name(self.cohort_id, self.key)


def beat_entry_name(cohort_id: int, key: str) -> str:
    return f"cohort-{cohort_id}:{key}"


def beat_entry_prefix(cohort_id: int) -> str:
    return f"cohort-{cohort_id}:"


class Release(models.Model):
    """A unit unlocked for a cohort: its content is visible from then on."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="releases")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="releases")
    released_at = models.DateTimeField()

    class Meta:
        ordering = ["cohort", "released_at"]
        constraints = [models.UniqueConstraint(fields=["cohort", "unit"], name="release_unique_unit")]

    def __str__(self) -> str:
        return f"{self.unit} for {self.cohort}"
