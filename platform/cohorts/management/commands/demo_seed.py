"""manage.py demo_seed: load the ProDev program and start a rehearsal cohort playing a week a minute."""

from datetime import timedelta
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand

from cohorts.models import Cohort
from cohorts.services import cohort_create, cohort_delete, enrollment_create
from core import clock
from programs.models import Program

PROGRAM_FILE = Path(__file__).resolve().parents[3] / "programs" / "data" / "prodev-backend.yaml"
DEMO_NAME = "Demo rehearsal"
WEEK_PER_MINUTE = 7 * 24 * 3600 / 60
LEARNERS = (
    ("ada@example.com", "Africa/Lagos", "ada-l", "blue"),
    ("grace@example.com", "Europe/London", "grace-h", "blue"),
    ("linus@example.com", "Asia/Kolkata", "linus-t", "green"),
    ("margaret@example.com", "", "mhamilton", "green"),
)


class Command(BaseCommand):
    help = "Load the ProDev Backend program and (re)create the rehearsal cohort 'Demo rehearsal'."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--speed",
            type=float,
            default=WEEK_PER_MINUTE,
            help="seconds of calendar per real second (default: a week a minute)",
        )
        parser.add_argument("--timezone", default="Africa/Lagos")

    def handle(self, *args: object, speed: float, timezone: str, **options: object) -> None:
        call_command("program_load", str(PROGRAM_FILE), stdout=self.stdout)
        program = Program.objects.get(slug="prodev-backend")
        old = Cohort.objects.filter(name=DEMO_NAME).first()
        if old is not None:
            cohort_delete(cohort=old)  # each run starts the rehearsal afresh, Beat entries included
        today = clock.now().date()
        start = today - timedelta(days=today.weekday())  # the program's week 0 starts on a Monday
        cohort = cohort_create(
            program=program,
            name=DEMO_NAME,
            start_date=start,
            timezone=timezone,
            anchors={"demo_day": (start + timedelta(weeks=16, days=4)).isoformat()},
            speed=speed,
        )
        for email, zone, login, group in LEARNERS:
            enrollment_create(cohort=cohort, email=email, timezone=zone, github_login=login, group=group)
        minutes = (cohort.events.order_by("-fire_at").first().fire_at - clock.now()).total_seconds() / 60
        self.stdout.write(
            f"rehearsal cohort '{DEMO_NAME}': {cohort.events.count()} events, {len(LEARNERS)} learners, playing "
            f"x{speed:g} (about {minutes:.0f} minutes for the whole program)"
        )
