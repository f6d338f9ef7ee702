"""manage.py program_load FILE: create or update a program from its YAML file (idempotent)."""

from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from programs.services import ProgramFileError, program_load

MAX_FILE_BYTES = 2 * 1024 * 1024


class Command(BaseCommand):
    help = "Create or update a program from a YAML program file; loading the same file twice changes nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, file: Path, **options: object) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        if file.stat().st_size > MAX_FILE_BYTES:
            raise CommandError(
                f"{file}: {file.stat().st_size} bytes is more than a program file may hold "
                f"({MAX_FILE_BYTES} bytes)"
            )
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: not valid YAML: {exc}") from exc
        try:
            result = program_load(data=data, source=str(file))
        except ProgramFileError as exc:
            raise CommandError(str(exc)) from exc
        # Re-sync every cohort of the program: an edited date moves their Beat entries.
        from cohorts.services import program_cohorts_resync

        resynced = program_cohorts_resync(program=result.program)
        verb = "created" if result.created else ("updated" if result.changed else "unchanged")
        counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
        self.stdout.write(
            f"program '{result.program.slug}' {verb} ({counts}); {resynced} cohort calendar(s) re-synced"
        )
