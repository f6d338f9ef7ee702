"""manage.py cohort_create: a cohort of a program, its calendar put into Beat."""

import math
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cohorts.services import cohort_create
from programs.models import Program
from programs.relative import RelativeDate, RelativeDateError, UnknownTimezoneError, resolve_zone


def _anchor(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise CommandError(f"--anchor {text!r}: write NAME=YYYY-MM-DD, e.g. --anchor demo_day=2027-04-30")
    try:
        date.fromisoformat(value.strip())
    except ValueError as exc:
        raise CommandError(f"--anchor {text!r}: '{value}' is not a date (YYYY-MM-DD)") from exc
    return name.strip(), value.strip()


def _undeclared(program: Program, anchors: dict[str, str]) -> None:
    declared = list(program.anchors or [])
    for name, value in anchors.items():
        if name not in declared:
            raise CommandError(
                f"--anchor {name}={value}: program '{program.slug}' declares no anchor '{name}' "
                f"(it declares: {', '.join(declared) or 'none'})"
            )


def _anchored_before_start(program: Program, start: date, zone: ZoneInfo, anchors: dict[str, str]) -> None:
    """Blame the anchor, not --start, for a date counted from it that falls before the cohort starts.

    The calendar's own check names the start date for every event before the start; for one that
    counts from an anchor, the anchor is what staff got wrong.
    """
    dates = {name: date.fromisoformat(value) for name, value in anchors.items()}
    origin = datetime.combine(start, time(0), tzinfo=zone)
    texts = [(f"unit '{u.key}' unlocks", u.unlock) for u in program.units.all()]
    for project in program.projects.all():
        texts += [
            (f"project '{project.key}' opens", project.opens),
            (f"project '{project.key}' is due", project.due),
            (f"project '{project.key}' closes", project.cutoff),
        ]
    for what, text in texts:
        try:
            relative = RelativeDate.parse(text)
            if relative.anchor not in dates:
                continue
            at = relative.resolve(start=start, tz=zone, anchors=dates)
        except RelativeDateError:
            continue  # the calendar's own check reports a program date that does not resolve
        if at < origin:
            name = relative.anchor
            raise CommandError(
                f"--anchor {name}={anchors[name]}: {what} {at.astimezone(zone):%Y-%m-%d %H:%M %Z} "
                f"({text}), before the cohort starts on {start.isoformat()}; give {name} a later date "
                "(or --start an earlier one)"
            )


class Command(BaseCommand):
    help = "Create a cohort of a program and put its calendar into Celery Beat."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--program", required=True, help="program slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--start", required=True, help="start date, YYYY-MM-DD (day 0)")
        parser.add_argument("--timezone", required=True, help="IANA zone, e.g. Africa/Lagos")
        parser.add_argument("--anchor", action="append", default=[], help="NAME=YYYY-MM-DD (repeatable)")
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="rehearsal: seconds of calendar per real second (604800/60 = a week a minute)",
        )

    def handle(self, *args: object, **options: object) -> None:
        program = Program.objects.filter(slug=options["program"]).first()
        if program is None:
            known = (
                ", ".join(Program.objects.values_list("slug", flat=True)) or "none; run program_load first"
            )
            raise CommandError(f"--program: no program '{options['program']}' (known: {known})")
        try:
            start = date.fromisoformat(options["start"])
        except ValueError as exc:
            raise CommandError(f"--start: '{options['start']}' is not a date (YYYY-MM-DD)") from exc
        try:
            resolve_zone(options["timezone"])
        except UnknownTimezoneError as exc:
            raise CommandError(f"--timezone: {exc}") from exc
        if not math.isfinite(options["speed"]):
            raise CommandError(f"--speed: '{options['speed']}' is not a finite number (1 = real time)")
        if options["speed"] < 1:
            raise CommandError("--speed: must be at least 1 (1 = real time)")
        anchors = dict(_anchor(a) for a in options["anchor"])
        _undeclared(program, anchors)
        _anchored_before_start(program, start, resolve_zone(options["timezone"]), anchors)
        try:
            cohort = cohort_create(
                program=program,
                name=options["name"],
                start_date=start,
                timezone=options["timezone"],
                anchors=anchors,
                speed=options["speed"],
            )
        except ValidationError as exc:
            flags = {
                "start_date": "--start",
                "timezone": "--timezone",
                "anchors": "--anchor",
                "name": "--name",
                "speed": "--speed",
            }
            problems = [f"{flags.get(f, f)}: {'; '.join(m)}" for f, m in exc.message_dict.items()]
            if any(error.code == "unique" for error in getattr(exc, "error_dict", {}).get("name", [])):
                problems = [
                    f"--name: a cohort named '{options['name']}' already exists"
                    if p.startswith("--name:")
                    else p
                    for p in problems
                ]
            raise CommandError("cannot create the cohort:\n  " + "\n  ".join(problems)) from exc
        count = cohort.events.count()
        self.stdout.write(
            f"cohort '{cohort.name}' (id {cohort.pk}) created with {count} calendar events in Beat"
        )
