"""manage.py program_load FILE: create or update a program from its YAML file (idempotent)."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from programs.files import ProgramFileReadError, program_file_read
from programs.services import ProgramFileError, program_load


class Command(BaseCommand):
    help = "Create or update a program from a YAML program file; loading the same file twice changes nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, file: Path, **options: object) -> None:
        try:
            data = program_file_read(file)
        except ProgramFileReadError as exc:
            raise CommandError(str(exc)) from exc
        # Entry point importing the domain: cohorts sits on top of programs, so programs cannot call it.
        from cohorts.services import program_cohorts_resync

        try:
            # One transaction: a program edit that no running cohort's calendar accepts is refused whole,
            # instead of leaving the new program stored next to calendars that still show the old dates.
            with transaction.atomic():
                result = program_load(data=data, source=str(file))
                resynced = program_cohorts_resync(program=result.program)
        except ProgramFileError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            problems = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in _messages(exc).items())
            raise CommandError(
                f"{file}: the program is valid but a cohort's calendar refuses it, nothing was changed: "
                f"{problems}"
            ) from exc
        verb = "created" if result.created else ("updated" if result.changed else "unchanged")
        counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
        self.stdout.write(
            f"program '{result.program.slug}' {verb} ({counts}); {resynced} cohort calendar(s) re-synced"
        )


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"calendar": exc.messages}
