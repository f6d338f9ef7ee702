"""manage.py nexus_setup: create the first staff superuser if none exists, print the login."""

import os

from django.core.management.base import BaseCommand

from core.services import superuser_ensure


class Command(BaseCommand):
    help = (
        "Create a staff superuser if none exists. Username from NEXUS_ADMIN_USER (default admin), "
        "password from NEXUS_ADMIN_PASSWORD, else generated and printed once. An existing superuser "
        "is kept as it is."
    )

    def handle(self, *args: object, **options: object) -> None:
        wanted = os.environ.get("NEXUS_ADMIN_USER", "admin")
        given = os.environ.get("NEXUS_ADMIN_PASSWORD") or None
        login = superuser_ensure(
            username=wanted,
            email=os.environ.get("NEXUS_ADMIN_EMAIL", "admin@example.com"),
            password=given,
        )
        reset = f".venv/bin/python manage.py changepassword {login.username}"
        # Say where the password came from, truthfully: a newcomer otherwise tries one that never worked.
        if login.created and given is None:
            self.stdout.write(
                f"Created superuser '{login.username}' with a password generated now: {login.password}"
            )
            self.stdout.write(
                "(shown once; set NEXUS_ADMIN_PASSWORD to choose it, or change it in the admin)"
            )
        elif login.created:
            self.stdout.write(
                f"Created superuser '{login.username}' with the password from NEXUS_ADMIN_PASSWORD"
            )
        else:
            other = (
                f" (NEXUS_ADMIN_USER is '{wanted}'; no second superuser is created)"
                if login.username != wanted
                else ""
            )
            self.stdout.write(f"Superuser '{login.username}' already exists and is kept as it is{other}")
            if given is None:
                self.stdout.write(
                    "Its password was set before this run and is not ours to show; log in with it, "
                    f"or reset it with {reset}"
                )
            elif login.password_works:
                self.stdout.write("The password from NEXUS_ADMIN_PASSWORD logs it in")
            else:
                self.stdout.write(
                    f"The password from NEXUS_ADMIN_PASSWORD does not log '{login.username}' in (it was "
                    f"not changed); log in with its own password, or reset it with {reset}"
                )
        # The last line is what make run's banner shows: a password only if it really logs in.
        if login.password_works:
            self.stdout.write(f"login: {login.username} / {login.password}")
        else:
            self.stdout.write(f"login: {login.username} (its own password; reset it with {reset})")
