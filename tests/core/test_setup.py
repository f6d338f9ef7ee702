"""nexus_setup: the first superuser, and a login line that never shows a password that does not work."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def setup(monkeypatch, **env):
    for name in ("NEXUS_ADMIN_USER", "NEXUS_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = StringIO()
    call_command("nexus_setup", stdout=out)
    return out.getvalue().strip().splitlines()


def test_creates_a_superuser_with_a_generated_password_that_logs_in(monkeypatch, client):
    lines = setup(monkeypatch)
    assert lines[0].startswith("Created superuser 'admin' with a password generated now: ")
    password = lines[-1].removeprefix("login: admin / ")
    assert lines[0].endswith(password)
    assert client.login(username="admin", password=password)
    assert get_user_model().objects.get().is_staff


def test_an_existing_superuser_keeps_its_password_and_the_login_line_says_so(monkeypatch):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "her-own-password")
    lines = setup(monkeypatch, NEXUS_ADMIN_PASSWORD="something-else")
    assert lines[0] == (
        "Superuser 'boss' already exists and is kept as it is "
        "(NEXUS_ADMIN_USER is 'admin'; no second superuser is created)"
    )
    assert lines[1].startswith("The password from NEXUS_ADMIN_PASSWORD does not log 'boss' in")
    assert (
        lines[-1]
        == "login: boss (its own password; reset it with .venv/bin/python manage.py changepassword boss)"
    )
    assert get_user_model().objects.get().check_password("her-own-password")
    assert get_user_model().objects.count() == 1


def test_an_existing_superuser_with_the_given_password_shows_it(monkeypatch):
    get_user_model().objects.create_superuser("admin", "a@example.com", "known-pass")
    lines = setup(monkeypatch, NEXUS_ADMIN_PASSWORD="known-pass")
    assert lines == [
        "Superuser 'admin' already exists and is kept as it is",
        "The password from NEXUS_ADMIN_PASSWORD logs it in",
        "login: admin / known-pass",
    ]


def test_a_password_from_the_environment_is_credited_to_it(monkeypatch, client):
    lines = setup(monkeypatch, NEXUS_ADMIN_PASSWORD="chosen-pass")
    assert lines == [
        "Created superuser 'admin' with the password from NEXUS_ADMIN_PASSWORD",
        "login: admin / chosen-pass",
    ]
    assert client.login(username="admin", password="chosen-pass")


def test_an_existing_superuser_without_a_given_password_is_not_shown_one(monkeypatch):
    # given a superuser made earlier (by createsuperuser, or a former run)
    get_user_model().objects.create_superuser("admin", "a@example.com", "set-before")

    # when setup runs with no NEXUS_ADMIN_PASSWORD
    lines = setup(monkeypatch)

    # then it says the password is not ours to show, and never claims one was generated
    assert lines[0] == "Superuser 'admin' already exists and is kept as it is"
    assert lines[1].startswith("Its password was set before this run and is not ours to show")
    assert lines[-1] == (
        "login: admin (its own password; reset it with .venv/bin/python manage.py changepassword admin)"
    )
    assert not any("generated" in line for line in lines)
