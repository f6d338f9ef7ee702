"""Core services: the first staff account of a fresh install."""

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction


@dataclass(frozen=True)
class AdminLogin:
    username: str
    password: str | None  # None: the account existed already, its password is not ours to show
    created: bool
    password_works: bool  # the password given (or generated) logs this account in


@transaction.atomic
def superuser_ensure(*, username: str, email: str, password: str | None) -> AdminLogin:
    """Create a staff superuser unless one exists; a generated password is returned once."""
    user_model = get_user_model()
    existing = user_model.objects.filter(is_superuser=True).order_by("pk").first()
    if existing is not None:
        works = bool(password) and existing.check_password(password)
        return AdminLogin(
            username=existing.get_username(),
            password=password if works else None,
            created=False,
            password_works=works,
        )
    password = password or secrets.token_urlsafe(12)
    user = user_model(username=username, email=email, is_staff=True, is_superuser=True)
    user.set_password(password)
    user.full_clean()
    user.save()
    return AdminLogin(username=username, password=password, created=True, password_works=True)
