"""manage.py nexus_setup: create the first staff superuser if none exists, print the login."""

import os

from django.core.management.base import BaseCommand

from core.services import superuser_ensure


class Command(BaseCommand):
    help = (
        "Create a staff superuser if none exists. Username from NEXUS_ADMIN_USER (default admin), "
        "password from NEXUS_ADMIN_PASSWORD, else generated and printed once."
    )

    def handle(self, *args: object, **options: object) -> None:
        login = superuser_ensure(
            username=os.environ.get("NEXUS_ADMIN_USER", "admin"),
            email=os.environ.get("NEXUS_ADMIN_EMAIL", "admin@example.com"),
            password=os.environ.get("NEXUS_ADMIN_PASSWORD") or None,
        )
        if login.created and not os.environ.get("NEXUS_ADMIN_PASSWORD"):
            self.stdout.write(
                f"Created superuser '{login.username}' with generated password: {login.password}"
            )
            self.stdout.write(
                "(shown once; set NEXUS_ADMIN_PASSWORD to choose it, or change it in the admin)"
            )
        elif login.created:
            self.stdout.write(f"Created superuser '{login.username}' (password from NEXUS_ADMIN_PASSWORD)")
        else:
            self.stdout.write(f"Superuser '{login.username}' already exists; log in with its password")
        # The last line is what make run's banner shows: a password only if it really logs in.
        if login.password_works:
            self.stdout.write(f"login: {login.username} / {login.password}")
        else:
            self.stdout.write(
                f"login: {login.username} (its own password; reset it with "
                f".venv/bin/python manage.py changepassword {login.username})"
            )
