"""manage.py program_export SLUG: write a program back as its YAML file."""

from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from programs.models import Program
from programs.services import program_export


class Command(BaseCommand):
    help = "Write a program as a YAML program file (to stdout, or --output FILE)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--output", "-o", type=Path)

    def handle(self, *args: object, slug: str, output: Path | None, **options: object) -> None:
        program = Program.objects.filter(slug=slug).first()
        if program is None:
            known = ", ".join(Program.objects.values_list("slug", flat=True)) or "none loaded"
            raise CommandError(f"no program '{slug}' (known: {known})")
        text = yaml.safe_dump(program_export(program=program), sort_keys=False, allow_unicode=True, width=100)
        if output:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"{output}: cannot write: {exc.strerror or exc}") from exc
            self.stderr.write(f"wrote {output}")
        else:
            self.stdout.write(text, ending="")
