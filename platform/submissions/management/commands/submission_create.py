"""manage.py submission_create: hand in a learner's repository and commit (inside the open window only)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cohorts.models import Enrollment
from submissions.services import submission_create


class Command(BaseCommand):
    help = "Submit a learner's work for a project: accepted inside the open window, late after due + grace."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cohort", required=True, help="cohort name")
        parser.add_argument("--email", required=True, help="the learner's email")
        parser.add_argument("--project", required=True, help="project key")
        parser.add_argument("--repository", required=True, help="repository URL")
        parser.add_argument("--sha", required=True, help="commit SHA (7 to 40 hex characters)")

    def handle(self, *args: object, **options: str) -> None:
        enrollment = (
            Enrollment.objects.select_related("cohort__program")
            .filter(cohort__name=options["cohort"], email=options["email"].lower())
            .first()
        )
        if enrollment is None:
            raise CommandError(
                f"--email: {options['email']} is not a learner of cohort '{options['cohort']}'"
            )
        project = enrollment.cohort.program.projects.filter(key=options["project"]).first()
        if project is None:
            keys = ", ".join(enrollment.cohort.program.projects.values_list("key", flat=True))
            raise CommandError(f"--project: no project '{options['project']}' (known: {keys})")
        try:
            submission = submission_create(
                enrollment=enrollment,
                project=project,
                repository_url=options["repository"],
                commit_sha=options["sha"],
            )
        except ValidationError as exc:
            flags = {"repository_url": "--repository", "commit_sha": "--sha", "project": "--project"}
            problems = [f"{flags.get(f, f)}: {'; '.join(m)}" for f, m in exc.message_dict.items()]
            raise CommandError("submission refused:\n  " + "\n  ".join(problems)) from exc
        state = "late" if submission.late else "on time"
        self.stdout.write(
            f"submitted {project.key} for {enrollment.email} at {submission.commit_sha[:7]} ({state})"
        )
