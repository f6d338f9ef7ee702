"""manage.py calendar_show --cohort NAME [--json]: the cohort's calendar, local and UTC, with Beat state."""

import json
import os
import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from cohorts.models import Cohort, CohortEvent
from cohorts.selectors import calendar_rows


def _iso_z(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if at else None


class Command(BaseCommand):
    help = (
        "Show a cohort's calendar: each event's calendar time (local and UTC), the real instant Beat "
        "fires it (differs when rehearsing), when it was done, its Beat entry and state."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cohort", required=True, help="cohort name")
        parser.add_argument("--json", action="store_true", help="print a JSON list")

    def handle(self, *args: object, **options: object) -> None:
        cohort = Cohort.objects.filter(name=options["cohort"]).first()
        if cohort is None:
            known = ", ".join(Cohort.objects.order_by("name").values_list("name", flat=True)[:20])
            raise CommandError(
                f"--cohort: no cohort named '{options['cohort']}' (known: {known or 'none yet'})"
            )
        try:
            self._show(cohort, as_json=bool(options["json"]))
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly. Point stdout at /dev/null so the interpreter's
            # final flush of what is still buffered does not raise a second time on exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def _show(self, cohort: Cohort, *, as_json: bool) -> None:
        rows = calendar_rows(cohort=cohort)
        done = {
            key: (fire_at, done_at, outcome)
            for key, fire_at, done_at, outcome in CohortEvent.objects.filter(
                cohort=cohort, program_id=cohort.program_id
            ).values_list("key", "fire_at", "done_at", "outcome")
        }
        if as_json:
            self.stdout.write(
                json.dumps(
                    [
                        r.as_dict() | {"done_at": _iso_z(done[r.key][1]), "outcome": done[r.key][2] or None}
                        for r in rows
                    ],
                    indent=2,
                )
            )
            return
        rehearsal = cohort.speed != 1
        self.stdout.write(
            f"{cohort.name}: {cohort.program.name}, starts {cohort.start_date} ({cohort.timezone}), "
            f"{cohort.status}{f', rehearsal x{cohort.speed:g}' if rehearsal else ''}"
        )

        def local(at: datetime | None) -> str:
            return cohort.local(at).isoformat(timespec="seconds") if at else "-"

        header = (
            f"CALENDAR ({cohort.timezone})",
            "UTC",
            "FIRES (real)" if rehearsal else "FIRES",
            "DONE",
            "STATE",
            "KIND",
            "SUBJECT [LEARNER]",
        )
        table = [header] + [
            (
                r.local,
                r.utc,
                local(done[r.key][0]),
                local(done[r.key][1]),
                r.state,
                r.kind,
                r.subject + (f" [{r.learner}]" if r.learner else ""),
            )
            for r in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
        for line in table:
            cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
            self.stdout.write("  " + "  ".join([*cells, line[-1]]))
