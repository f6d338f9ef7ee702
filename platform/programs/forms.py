"""Staff forms for programs, units and projects: relative dates, declared anchors, window order and
reminder lists are form errors naming the field (the same rules as program files)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils.dateparse import parse_duration as parse_django_duration

from core.github_names import is_login, repository_full_name
from programs.models import Program, Project, Unit
from programs.relative import (
    MAX_DURATION,
    DurationError,
    RelativeDate,
    RelativeDateError,
    UnknownTimezoneError,
    format_duration,
    parse_duration,
    resolve_zone,
)
from programs.services import _ANCHOR, _REFERENCE_START, _check_anchor, _ordered

_SEPARATORS = re.compile(r"[\s,]+")


def _words(text: str) -> list[str]:
    return [word for word in _SEPARATORS.split(text.strip().strip("[]")) if word.strip("'\"")]


# GitHub's rules: a login or organisation is alphanumerics and single hyphens (39 at most); a repository
# name is letters, digits, '.', '_' and '-' (100 at most).


class DurationListField(forms.CharField):
    """Reminder offsets typed as '1d, 1h' and stored as a list of canonical durations (['1d', '1h']).

    ``empty`` is what a blank input means: None (the program's defaults) for a project, [] for a program.
    """

    def __init__(self, *, empty: list | None = None, **kwargs: Any) -> None:
        self.empty = empty
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 8, "placeholder": "1d, 1h"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return "" if value is None else value

    def to_python(self, value: Any) -> list[str] | None:
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        if not text:
            return None if self.empty is None else list(self.empty)
        out: list[str] = []
        first: dict[str, str] = {}
        for word in _words(text):
            word = word.strip("'\"")
            try:
                canonical = format_duration(parse_duration(word))
            except DurationError as exc:
                raise ValidationError(str(exc), code="invalid") from exc
            if canonical in first:
                # The calendar has one reminder event per offset: '1d' and '24h' would be one event twice.
                raise ValidationError(
                    f"'{word}' is the same offset as '{first[canonical]}'; give each reminder once.",
                    code="duplicate",
                )
            first[canonical] = word
            out.append(canonical)
        return out


class NameListField(forms.CharField):
    """Anchor names typed as 'demo_day, launch' and stored as a list."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 30, "placeholder": "demo_day"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return "" if value is None else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        names = [word.strip("'\"") for word in _words(super().to_python(value) or "")]
        for name in names:
            if not _ANCHOR.fullmatch(name):
                raise ValidationError(
                    f"'{name}' is not an anchor name: use lowercase letters, digits and '_', "
                    "starting with a letter (e.g. demo_day)."
                )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValidationError(f"{', '.join(repeated)} is listed twice; give each anchor once.")
        return names


class CheckNamesField(NameListField):
    """Check names typed comma-separated or one per line ('autograding, lint'), stored as a list."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 40, "placeholder": "autograding"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        text = forms.CharField.to_python(self, value) or ""
        names = [name.strip() for name in re.split(r"[,\n]", text) if name.strip()]
        for name in names:
            if len(name) > 255:
                raise ValidationError(f"A check name is at most 255 characters: {name[:40]!r}...")
        return list(dict.fromkeys(names))


class GraceField(forms.DurationField):
    """A grace period typed like a reminder ('2h', '1d12h'; '02:00:00' works too), shown as '2h'."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 5, "placeholder": "0m"}))
        kwargs.setdefault("help_text", "After due, still on time, e.g. 2h; it must end by the cut-off.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, timedelta) and timedelta(0) <= value <= MAX_DURATION:
            try:
                return format_duration(value)
            except DurationError:
                pass
        return super().prepare_value(value)

    def to_python(self, value: Any) -> timedelta | None:
        if isinstance(value, timedelta):
            return value
        text = str(value or "").strip()
        if not text:
            return timedelta(0)
        try:
            return parse_duration(text)
        except DurationError:
            pass
        parsed = parse_django_duration(text)
        if parsed is None:
            raise ValidationError(
                f"'{text}' is not a duration: write whole days, hours and minutes such as '2h' or '1d12h'.",
                code="invalid",
            )
        return parsed


def _relative(data: dict, name: str) -> RelativeDate | None:
    """The field's relative date when it is valid so far (a field with an error is not in cleaned_data)."""
    try:
        return RelativeDate.parse(data[name]) if data.get(name) else None
    except RelativeDateError:
        return None


class _Problems:
    """Takes the problems programs.services' file checks report and turns them into field errors."""

    def __init__(self, form: forms.Form) -> None:
        self.form = form

    def fail(self, where: str, message: str, *, at: Any = None, key: str | None = None) -> None:
        # The error sits beside its field, so the file checks' "field 'x': " prefix is dropped.
        self.form.add_error(key, message.removeprefix(f"field '{key}': "))


class _ProgramRowForm(forms.ModelForm):
    """A unit or project row: its dates may only count from anchors its program declares."""

    date_fields: tuple[str, ...] = ()

    def _program(self) -> Program | None:
        program = self.cleaned_data.get("program")
        if program is None:
            try:
                program = self.instance.program
            except ObjectDoesNotExist:
                return None
        return program

    def clean(self) -> dict:
        data = super().clean()
        program = self._program()
        if program is not None:
            anchors = list(program.anchors or [])
            for name in self.date_fields:
                value = _relative(data, name)
                _check_anchor(_Problems(self), "", {}, name, value, anchors)
        return data


class UnitForm(_ProgramRowForm):
    date_fields = ("unlock",)

    class Meta:
        model = Unit
        fields = ("program", "key", "position", "title", "summary", "phase", "unlock")


def _after(a: RelativeDate, b: RelativeDate) -> timedelta | None:
    """b - a, when both count from the same anchor (otherwise it depends on the cohort)."""
    if _ordered(a, b) is None:
        return None
    anchors = {a.anchor: _REFERENCE_START} if a.anchor else {}
    zone = resolve_zone("UTC")
    return b.resolve(start=_REFERENCE_START, tz=zone, anchors=anchors) - a.resolve(
        start=_REFERENCE_START, tz=zone, anchors=anchors
    )


class ProjectForm(_ProgramRowForm):
    date_fields = ("opens", "due", "cutoff")
    grace = GraceField()
    reminders = DurationListField(
        empty=None, help_text="Before due, e.g. 1d, 1h; empty: the program's default reminders."
    )
    required_checks = CheckNamesField(
        label="Required checks",
        help_text="Comma-separated check run, workflow or status names that must pass, e.g. autograding; "
        "empty: every check of the commit counts.",
    )

    class Meta:
        model = Project
        fields = (
            "program",
            "unit",
            "key",
            "position",
            "title",
            "description",
            "opens",
            "due",
            "cutoff",
            "grace",
            "reminders",
            "required_checks",
            "template_repository",
            "github_organization",
        )

    def clean_template_repository(self) -> str:
        value = (self.cleaned_data.get("template_repository") or "").strip()
        if not value:
            return value
        try:
            return repository_full_name(value)
        except ValueError:
            raise ValidationError("Give the template as owner/name, e.g. acme/backend-template.") from None

    def clean_github_organization(self) -> str:
        value = (self.cleaned_data.get("github_organization") or "").strip()
        if value and not is_login(value):
            raise ValidationError("Not a GitHub organisation name (letters, digits and single hyphens).")
        return value

    def clean(self) -> dict:
        data = super().clean()
        if data.get("template_repository") and not data.get("github_organization"):
            self.add_error(
                "github_organization", "Learners' repositories need an organisation to be created in."
            )
        program, unit = self._program(), data.get("unit")
        if program is not None and unit is not None and unit.program_id != program.pk:
            self.add_error("unit", f"'{unit}' is a unit of another program; choose one of '{program}'.")
        opens, due, cutoff = (_relative(data, name) for name in ("opens", "due", "cutoff"))
        # The file loader's order rules (programs.services._ordered): only dates counted from the same
        # base can be compared here; the cohorts' calendars check the rest against real anchor dates.
        if opens and cutoff and _ordered(opens, cutoff) is False:
            self.add_error("cutoff", f"The window closes ({cutoff}) before it opens ({opens}).")
        elif opens and due and _ordered(opens, due) is False:
            self.add_error("due", f"Due ({due}) is before the window opens ({opens}).")
        if due and cutoff and _ordered(due, cutoff) is False:
            self.add_error("due", f"Due ({due}) is after the cut-off ({cutoff}).")
        else:
            grace, room = data.get("grace"), (_after(due, cutoff) if due and cutoff else None)
            if grace and room is not None and grace > room:
                self.add_error(
                    "grace",
                    f"Due ({due}) plus a grace of {format_duration(grace)} ends after the cut-off "
                    f"({cutoff}); the grace may be at most {format_duration(room)}.",
                )
        return data


class ProgramForm(forms.ModelForm):
    anchors = NameListField(
        help_text="Named dates each cohort sets (e.g. demo_day); dates may count from them."
    )
    default_reminders = DurationListField(
        empty=[], help_text="Before due, e.g. 1d, 1h; empty: no reminders unless a project lists its own."
    )

    class Meta:
        model = Program
        fields = ("slug", "name", "description", "timezone_hint", "anchors", "default_reminders")
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 120})}

    def clean_timezone_hint(self) -> str:
        name = (self.cleaned_data.get("timezone_hint") or "").strip()
        if name:
            try:
                resolve_zone(name)
            except UnknownTimezoneError as exc:
                raise ValidationError(str(exc)) from exc
        return name

    def _post_clean(self) -> None:
        super()._post_clean()
        # The Program page's inlines check the whole program against every cohort only when the program's
        # own fields are valid (see ProgramAdmin): they read this mark on the instance they share.
        self.instance.admin_form_valid = not self._errors
