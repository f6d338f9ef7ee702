"""manage.py calendar_show --cohort NAME [--json]: the cohort's calendar, local and UTC, with Beat state."""

import json

from django.core.management.base import BaseCommand, CommandError

from cohorts.models import Cohort
from cohorts.selectors import calendar_rows


class Command(BaseCommand):
    help = "Show a cohort's calendar: each event's local and UTC time, its Beat entry and state."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cohort", required=True, help="cohort name")
        parser.add_argument("--json", action="store_true", help="print a JSON list")

    def handle(self, *args: object, **options: object) -> None:
        cohort = Cohort.objects.filter(name=options["cohort"]).first()
        if cohort is None:
            raise CommandError(f"--cohort: no cohort named '{options['cohort']}'")
        rows = calendar_rows(cohort=cohort)
        if options["json"]:
            self.stdout.write(json.dumps([r.as_dict() for r in rows], indent=2))
            return
        self.stdout.write(
            f"{cohort.name}: {cohort.program.name}, starts {cohort.start_date} ({cohort.timezone}), "
            f"{cohort.status}{f', rehearsal x{cohort.speed:g}' if cohort.speed != 1 else ''}"
        )
        for r in rows:
            who = f" [{r.learner}]" if r.learner else ""
            self.stdout.write(f"  {r.local:<22} {r.utc:<21} {r.state:<10} {r.kind:<7} {r.subject}{who}")
