"""Program templates: Program, Unit, ContentItem, Project; every date is relative (see relative.py)."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from programs.relative import (
    MAX_DURATION,
    DurationError,
    RelativeDate,
    RelativeDateError,
    format_duration,
    parse_duration,
)

key_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Use lowercase letters, digits and dashes.")


def validate_relative_date(value: str) -> None:
    try:
        RelativeDate.parse(value)
    except RelativeDateError as exc:
        raise ValidationError(str(exc)) from exc


def validate_durations(value: object) -> None:
    if not isinstance(value, list):
        raise ValidationError("Give a list of durations such as ['24h', '1h'].")
    seen: dict[str, object] = {}
    for item in value:
        try:
            canonical = format_duration(parse_duration(item))
        except (DurationError, TypeError) as exc:
            raise ValidationError(str(exc)) from exc
        if canonical in seen:
            # Two reminders at the same offset would be one calendar event twice.
            raise ValidationError(
                f"{item!r} is the same offset as {seen[canonical]!r}; give each reminder once."
            )
        seen[canonical] = item


class RelativeDateField(models.CharField):
    """A relative date such as 'week 3 mon 09:00' or 'demo_day: day -1 18:00'."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("validators", [validate_relative_date])
        kwargs.setdefault(
            "help_text", "day N HH:MM, or week N mon..sun HH:MM, optionally prefixed by 'anchor:'"
        )
        super().__init__(*args, **kwargs)


class Program(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    timezone_hint = models.CharField(max_length=64, blank=True)
    anchors = models.JSONField(default=list, blank=True, help_text="Anchor names a cohort must set.")
    default_reminders = models.JSONField(
        default=list, blank=True, validators=[validate_durations], help_text="Before due, e.g. ['24h', '1h']."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="units")
    key = models.CharField(max_length=64, validators=[key_validator])
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    phase = models.CharField(max_length=100, blank=True)
    unlock = RelativeDateField()

    class Meta:
        ordering = ["program", "position"]
        constraints = [models.UniqueConstraint(fields=["program", "key"], name="unit_unique_key")]

    def __str__(self) -> str:
        return self.title


class ContentItem(models.Model):
    """Reading or practice material; learners see it once its unit is released."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="content")
    key = models.CharField(max_length=80, validators=[key_validator])
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["unit", "position"]
        constraints = [models.UniqueConstraint(fields=["unit", "key"], name="content_unique_key")]

    def __str__(self) -> str:
        return self.title


class Project(models.Model):
    """A submission window: opens, due (late after the grace), closes at the cut-off."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="projects")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="projects")
    key = models.CharField(max_length=80, validators=[key_validator])
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    opens = RelativeDateField()
    due = RelativeDateField()
    cutoff = RelativeDateField()
    grace = models.DurationField(default=timedelta(0))
    reminders = models.JSONField(
        null=True, blank=True, validators=[validate_durations], help_text="Empty: the program's defaults."
    )
    # GitHub: which checks decide a submission's CI status, and where learners' repositories come from.
    required_checks = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of the checks that must pass (check runs, workflows, status contexts); "
        "empty: every check of the commit.",
    )
    template_repository = models.CharField(
        max_length=140,
        blank=True,
        help_text="owner/name of the template each learner's repository is made from.",
    )
    github_organization = models.CharField(
        max_length=39, blank=True, help_text="Where learners' repositories are created."
    )

    class Meta:
        ordering = ["program", "position"]
        constraints = [models.UniqueConstraint(fields=["program", "key"], name="project_unique_key")]

    def __str__(self) -> str:
        return self.title

    def reminder_offsets(self) -> list[str]:
        return list(self.reminders if self.reminders is not None else self.program.default_reminders)

    def clean(self) -> None:
        if self.grace is not None and self.grace < timedelta(0):
            raise ValidationError({"grace": "The grace period cannot be negative."})
        if self.grace is not None and self.grace > MAX_DURATION:
            raise ValidationError(
                {"grace": f"The grace period cannot be longer than {MAX_DURATION.days} days."}
            )
