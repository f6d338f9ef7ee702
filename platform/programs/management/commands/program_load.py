"""manage.py program_load FILE: create or update a program from its YAML file (idempotent)."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cohorts.services import program_file_apply
from programs.files import ProgramFileReadError, program_file_read
from programs.services import ProgramFileError


class Command(BaseCommand):
    help = "Create or update a program from a YAML program file; loading the same file twice changes nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, file: Path, **options: object) -> None:
        try:
            data = program_file_read(file)
        except ProgramFileReadError as exc:
            raise CommandError(str(exc)) from exc
        try:
            result, resynced = program_file_apply(data=data, source=str(file))
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
            f"program '{result.program.slug}' {verb} ({counts}); {resynced.cohorts} cohort calendar(s) re-synced"
        )


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"calendar": exc.messages}
