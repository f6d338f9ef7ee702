"""GitHub's names as staff type them: logins and owner/name repositories (a github.com URL is accepted)."""

from __future__ import annotations

import re

LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
REPOSITORY = re.compile(rf"{LOGIN}/[A-Za-z0-9._-]{{1,100}}")


def repository_full_name(value: str) -> str:
    """owner/name from what was typed (owner/name, or its https://github.com/ URL, .git or not); a
    ValueError saying what to give otherwise."""
    value = (value or "").strip()
    if value.startswith("https://github.com/"):
        value = value.removeprefix("https://github.com/").removesuffix(".git").strip("/")
    if not REPOSITORY.fullmatch(value) or value.endswith(("/.", "/..")):
        raise ValueError("Give the repository as owner/name, e.g. acme/backend-template.")
    return value


def is_login(value: str) -> bool:
    return bool(re.fullmatch(LOGIN, value or ""))
