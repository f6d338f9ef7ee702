"""Program writes: load a program file (create or update, idempotent) and export one back."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count

from programs.files import line_of
from programs.models import ContentItem, Program, Project, Unit
from programs.relative import (
    DurationError,
    RelativeDate,
    RelativeDateError,
    format_duration,
    parse_duration,
)

# A Monday well away from any DST change, used only to compare dates that share an anchor.
_REFERENCE_START = date(2030, 1, 7)
# Checked while parsing (not only by full_clean at save) so one run lists every problem with its place.
_KEY = re.compile(r"[a-z0-9][a-z0-9-]*")
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_ANCHOR = re.compile(r"[a-z][a-z0-9_]*")
# A file with a mistake repeated in every item would otherwise print thousands of lines.
MAX_PROBLEMS_SHOWN = 50


def _max_length(model: type, name: str) -> int:
    return model._meta.get_field(name).max_length


class ProgramFileError(ValueError):
    """A program file that cannot be loaded; every problem names the item and the field (and its line, when
    the data came from a file); the message lists the first MAX_PROBLEMS_SHOWN of them."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"  - {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more problem(s)")
        super().__init__(f"{source}: {len(problems)} problem(s):\n" + "\n".join(lines))


@dataclass
class LoadResult:
    program: Program
    created: bool
    changed: bool
    counts: dict[str, int] = field(default_factory=dict)


class _Checker:
    """Collects every problem of a file instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def fail(self, where: str, message: str, *, at: Any = None, key: str | None = None) -> None:
        """Record a problem of the item ``where``; ``at`` is its mapping, which knows its lines if read from a file."""
        line = line_of(at, key)
        self.problems.append(f"{self.source}:{line}: {where}: {message}" if line else f"{where}: {message}")

    def known(self, data: dict, allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                self.fail(
                    where, f"unknown field '{key}' (known: {', '.join(sorted(allowed))})", at=data, key=key
                )

    def text(
        self,
        data: dict,
        key: str,
        where: str,
        *,
        required: bool = True,
        default: str = "",
        max_length: int | None = None,
    ) -> str:
        value = data.get(key, None)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).strip()
        elif value is None:
            text = ""
        else:
            self.fail(where, f"field '{key}' must be text, not {type(value).__name__}", at=data, key=key)
            return default
        if not text:
            # An empty value is as missing as an absent one: full_clean would refuse it later, without
            # saying where in the file it is.
            if required:
                self.fail(where, f"field '{key}' is required", at=data, key=key)
            return default
        if max_length is not None and len(text) > max_length:
            self.fail(
                where, f"field '{key}' has {len(text)} characters, more than {max_length}", at=data, key=key
            )
        return text

    def key(
        self, data: dict, where: str, model: type, *, pattern: re.Pattern = _KEY, name: str = "key"
    ) -> str:
        value = self.text(data, name, where, max_length=_max_length(model, name))
        if value and not pattern.fullmatch(value):
            rule = "lowercase letters, digits and dashes" if pattern is _KEY else "letters, digits, - and _"
            self.fail(where, f"field '{name}': '{value}' must use {rule}", at=data, key=name)
        return value

    def relative(self, data: dict, key: str, where: str) -> RelativeDate | None:
        raw = self.text(data, key, where)
        if not raw:
            return None
        try:
            return RelativeDate.parse(raw)
        except RelativeDateError as exc:
            self.fail(where, f"field '{key}': {exc}", at=data, key=key)
            return None

    def durations(self, data: dict, key: str, where: str, *, label: str | None = None) -> list[str] | None:
        value = data.get(key)
        label = label or key
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(
                where, f"field '{label}' must be a list of durations such as [24h, 1h]", at=data, key=key
            )
            return None
        out: list[str] = []
        first: dict[str, object] = {}
        for item in value:
            try:
                canonical = format_duration(parse_duration(str(item)))
            except DurationError as exc:
                self.fail(where, f"field '{label}': {exc}", at=data, key=key)
                continue
            if canonical in first:
                # The calendar has one reminder event per offset: '1d' and '24h' would be the same event twice.
                self.fail(
                    where,
                    f"field '{label}': '{item}' is the same offset as '{first[canonical]}'; give each reminder once",
                    at=data,
                    key=key,
                )
                continue
            first[canonical] = item
            out.append(canonical)
        return out

    def items(self, data: dict, key: str, where: str) -> list[dict]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(where, f"field '{key}' must be a list of mappings", at=data, key=key)
            return []
        return value


def _ordered(a: RelativeDate, b: RelativeDate) -> bool | None:
    """Whether a <= b, when both count from the same anchor (otherwise it depends on the cohort)."""
    if a.anchor != b.anchor:
        return None
    anchors = {a.anchor: _REFERENCE_START} if a.anchor else {}
    zone = ZoneInfo("UTC")
    at = a.resolve(start=_REFERENCE_START, tz=zone, anchors=anchors)
    bt = b.resolve(start=_REFERENCE_START, tz=zone, anchors=anchors)
    return at <= bt


def parse_program(data: Any, *, source: str) -> dict:
    """Validate a program file's data into plain rows; raises ProgramFileError listing every problem."""
    check = _Checker(source)
    if not isinstance(data, dict):
        raise ProgramFileError(source, ["the file must be a mapping with slug, name and units"])
    check.known(
        data, {"slug", "name", "description", "timezone_hint", "anchors", "defaults", "units"}, "program"
    )
    slug = check.key(data, "program", Program, pattern=_SLUG, name="slug")
    program = {
        "slug": slug,
        "name": check.text(data, "name", "program", max_length=_max_length(Program, "name")),
        "description": check.text(data, "description", "program", required=False),
        "timezone_hint": check.text(
            data, "timezone_hint", "program", required=False, max_length=_max_length(Program, "timezone_hint")
        ),
        "anchors": [],
        "default_reminders": ["1d", "1h"],
        "units": [],
    }
    anchors = data.get("anchors") or []
    if not isinstance(anchors, list) or not all(isinstance(a, str) for a in anchors):
        check.fail("program", "field 'anchors' must be a list of anchor names", at=data, key="anchors")
    else:
        # A relative date can only name an anchor of this form, so any other could never be used.
        for name in anchors:
            if not _ANCHOR.fullmatch(name):
                check.fail(
                    "program", f"field 'anchors': '{name}' must match [a-z][a-z0-9_]*", at=data, key="anchors"
                )
        program["anchors"] = anchors
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        check.fail("program", "field 'defaults' must be a mapping", at=data, key="defaults")
        defaults = {}
    reminders = check.durations(defaults, "reminders", "program", label="defaults.reminders")
    if reminders is not None:
        program["default_reminders"] = reminders

    unit_keys: set[str] = set()
    project_keys: set[str] = set()
    for u_index, unit in enumerate(check.items(data, "units", "program")):
        uwhere = f"units[{u_index}] ({unit.get('key', '?')})"
        check.known(unit, {"key", "title", "summary", "phase", "unlock", "content", "projects"}, uwhere)
        ukey = check.key(unit, uwhere, Unit)
        if ukey and ukey in unit_keys:
            check.fail(uwhere, f"field 'key': '{ukey}' is used by another unit", at=unit, key="key")
        unit_keys.add(ukey)
        unlock = check.relative(unit, "unlock", uwhere)
        _check_anchor(check, uwhere, unit, "unlock", unlock, program["anchors"])
        row = {
            "key": ukey,
            "title": check.text(unit, "title", uwhere, max_length=_max_length(Unit, "title")),
            "summary": check.text(
                unit, "summary", uwhere, required=False, max_length=_max_length(Unit, "summary")
            ),
            "phase": check.text(unit, "phase", uwhere, required=False, max_length=_max_length(Unit, "phase")),
            "unlock": str(unlock) if unlock else "",
            "content": [],
            "projects": [],
        }
        content_keys: set[str] = set()
        for c_index, item in enumerate(check.items(unit, "content", uwhere)):
            cwhere = f"{uwhere} content[{c_index}] ({item.get('key', '?')})"
            check.known(item, {"key", "title", "body"}, cwhere)
            ckey = check.key(item, cwhere, ContentItem)
            if ckey and ckey in content_keys:
                check.fail(cwhere, f"field 'key': '{ckey}' is used twice in this unit", at=item, key="key")
            content_keys.add(ckey)
            row["content"].append(
                {
                    "key": ckey,
                    "title": check.text(item, "title", cwhere, max_length=_max_length(ContentItem, "title")),
                    "body": check.text(item, "body", cwhere, required=False),
                }
            )
        for p_index, item in enumerate(check.items(unit, "projects", uwhere)):
            pwhere = f"{uwhere} projects[{p_index}] ({item.get('key', '?')})"
            check.known(
                item, {"key", "title", "description", "opens", "due", "cutoff", "grace", "reminders"}, pwhere
            )
            pkey = check.key(item, pwhere, Project)
            if pkey and pkey in project_keys:
                check.fail(pwhere, f"field 'key': '{pkey}' is used by another project", at=item, key="key")
            project_keys.add(pkey)
            dates = {name: check.relative(item, name, pwhere) for name in ("opens", "due", "cutoff")}
            for name, value in dates.items():
                _check_anchor(check, pwhere, item, name, value, program["anchors"])
            grace = timedelta(0)
            if item.get("grace") is not None:
                try:
                    grace = parse_duration(str(item["grace"]))
                except DurationError as exc:
                    check.fail(pwhere, f"field 'grace': {exc}", at=item, key="grace")
            opens, due, cutoff = dates["opens"], dates["due"], dates["cutoff"]
            if opens and cutoff and _ordered(opens, cutoff) is False:
                check.fail(
                    pwhere,
                    f"field 'cutoff': the window closes ({cutoff}) before it opens ({opens})",
                    at=item,
                    key="cutoff",
                )
            if opens and due and _ordered(opens, due) is False:
                check.fail(
                    pwhere,
                    f"field 'due': due ({due}) is before the window opens ({opens})",
                    at=item,
                    key="due",
                )
            if due and cutoff and _ordered(due, cutoff) is False:
                check.fail(
                    pwhere, f"field 'due': due ({due}) is after the cut-off ({cutoff})", at=item, key="due"
                )
            row["projects"].append(
                {
                    "key": pkey,
                    "title": check.text(item, "title", pwhere, max_length=_max_length(Project, "title")),
                    "description": check.text(item, "description", pwhere, required=False),
                    "opens": str(opens) if opens else "",
                    "due": str(due) if due else "",
                    "cutoff": str(cutoff) if cutoff else "",
                    "grace": grace,
                    "reminders": check.durations(item, "reminders", pwhere),
                }
            )
        program["units"].append(row)
    if check.problems:
        raise ProgramFileError(source, check.problems)
    return program


def _check_anchor(
    check: _Checker, where: str, data: dict, name: str, value: RelativeDate | None, anchors: list
) -> None:
    if value and value.anchor and value.anchor not in anchors:
        check.fail(
            where,
            f"field '{name}': anchor '{value.anchor}' is not declared in the program's anchors {anchors}",
            at=data,
            key=name,
        )


def _sync_fields(instance: Any, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed = True
    return changed


@transaction.atomic
def program_load(*, data: Any, source: str) -> LoadResult:
    """Create or update a program from a parsed file; loading the same file twice changes nothing."""
    spec = parse_program(data, source=source)
    program, created = Program.objects.get_or_create(slug=spec["slug"], defaults={"name": spec["name"]})
    changed = created
    counts = {"units": 0, "content": 0, "projects": 0}
    if _sync_fields(
        program,
        {k: spec[k] for k in ("name", "description", "timezone_hint", "anchors", "default_reminders")},
    ):
        # Through _save: a model-level refusal is a ProgramFileError naming the file, not a bare ValidationError.
        _save(program, source, f"program '{program.slug}'")
        changed = True
    program_saved = changed
    units = {u.key: u for u in program.units.all()}
    projects = {p.key: p for p in program.projects.all()}
    keep_units, keep_projects = set(), set()
    for u_pos, urow in enumerate(spec["units"]):
        unit = units.get(urow["key"]) or Unit(program=program, key=urow["key"])
        values = {"position": u_pos, **{k: urow[k] for k in ("title", "summary", "phase", "unlock")}}
        if _sync_fields(unit, values) or unit.pk is None:
            _save(unit, source, f"unit '{unit.key}'")
            changed = True
        keep_units.add(unit.key)
        counts["units"] += 1
        existing_content = {c.key: c for c in unit.content.all()}
        keep_content = set()
        for c_pos, crow in enumerate(urow["content"]):
            item = existing_content.get(crow["key"]) or ContentItem(unit=unit, key=crow["key"])
            if (
                _sync_fields(item, {"position": c_pos, "title": crow["title"], "body": crow["body"]})
                or not item.pk
            ):
                _save(item, source, f"content '{item.key}'")
                changed = True
            keep_content.add(item.key)
            counts["content"] += 1
        stale = unit.content.exclude(key__in=keep_content)
        if stale.exists():
            stale.delete()
            changed = True
        for prow in urow["projects"]:
            project = projects.get(prow["key"]) or Project(program=program, key=prow["key"])
            values = {
                "unit_id": unit.pk,
                "position": counts["projects"],
                **{
                    k: prow[k]
                    for k in ("title", "description", "opens", "due", "cutoff", "grace", "reminders")
                },
            }
            if _sync_fields(project, values) or project.pk is None:
                _save(project, source, f"project '{project.key}'")
                changed = True
            keep_projects.add(project.key)
            counts["projects"] += 1
    removed_projects = program.projects.exclude(key__in=keep_projects)
    removed_units = program.units.exclude(key__in=keep_units)
    _refuse_removing_used(source, removed_projects, removed_units)
    for queryset in (removed_projects, removed_units):
        if queryset.exists():
            queryset.delete()
            changed = True
    if changed and not program_saved:
        program.save(update_fields=["updated_at"])  # updated_at tells when the program's file last changed
    return LoadResult(program=program, created=created, changed=changed, counts=counts)


def _refuse_removing_used(source: str, projects: Any, units: Any) -> None:
    """Removing a unit or project from the file must not silently delete what learners did with it."""
    problems = []
    for project in projects.annotate(
        n_submissions=Count("submissions", distinct=True),
        n_extensions=Count("extensions", distinct=True),
        n_transitions=Count("transitions", distinct=True),
    ):
        if project.n_submissions or project.n_extensions or project.n_transitions:
            problems.append(
                f"project '{project.key}': removed from the file, but cohorts have used it "
                f"({project.n_submissions} submission(s), {project.n_extensions} extension(s), "
                f"{project.n_transitions} window transition(s)); keep it in the file"
            )
    for unit in units.annotate(n_releases=Count("releases")):
        if unit.n_releases:
            problems.append(
                f"unit '{unit.key}': removed from the file, but {unit.n_releases} cohort(s) have it released; "
                "keep it in the file"
            )
    if problems:
        raise ProgramFileError(source, problems)


def _save(instance: Any, source: str, what: str) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        problems = [f"{what}: field '{name}': {'; '.join(msgs)}" for name, msgs in exc.message_dict.items()]
        raise ProgramFileError(source, problems) from exc
    instance.save()


def program_export(*, program: Program) -> dict:
    """The program as the data of a program file (load(export(p)) changes nothing)."""
    units = []
    for unit in program.units.prefetch_related("content", "projects"):
        urow: dict[str, Any] = {"key": unit.key, "title": unit.title}
        if unit.summary:
            urow["summary"] = unit.summary
        if unit.phase:
            urow["phase"] = unit.phase
        urow["unlock"] = unit.unlock
        urow["content"] = [
            {"key": c.key, "title": c.title, **({"body": c.body} if c.body else {})}
            for c in unit.content.all()
        ]
        urow["projects"] = []
        for project in unit.projects.all():
            prow: dict[str, Any] = {"key": project.key, "title": project.title}
            if project.description:
                prow["description"] = project.description
            prow.update(
                opens=project.opens,
                due=project.due,
                cutoff=project.cutoff,
                grace=format_duration(project.grace),
            )
            if project.reminders is not None:
                prow["reminders"] = list(project.reminders)
            urow["projects"].append(prow)
        units.append(urow)
    return {
        "slug": program.slug,
        "name": program.name,
        "description": program.description,
        "timezone_hint": program.timezone_hint,
        "anchors": list(program.anchors),
        "defaults": {"reminders": list(program.default_reminders)},
        "units": units,
    }
