"""manage.py program_load FILE: create or update a program from its YAML file (idempotent)."""

from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cohorts.services import program_file_apply
from programs.services import ProgramFileError

MAX_FILE_BYTES = 2 * 1024 * 1024


class Command(BaseCommand):
    help = "Create or update a program from a YAML program file; loading the same file twice changes nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, file: Path, **options: object) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CommandError(
                f"{file}: {size} bytes is more than a program file may hold ({MAX_FILE_BYTES} bytes)"
            )
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file}: not UTF-8 text: {exc}") from exc
        except yaml.YAMLError as exc:
            raise CommandError(f"{file}: not valid YAML: {exc}") from exc
        except OSError as exc:
            raise CommandError(f"{file}: cannot read: {exc.strerror or exc}") from exc
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
            f"program '{result.program.slug}' {verb} ({counts}); {resynced} cohort calendar(s) re-synced"
        )


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"calendar": exc.messages}
