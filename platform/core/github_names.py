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
        value = value.removeprefix("https://github.com/").strip("/")
    value = value.removesuffix(".git")  # GitHub's clone address; the repository itself is named without
    if not REPOSITORY.fullmatch(value) or value.endswith(("/.", "/..")):
        raise ValueError("Give the repository as owner/name, e.g. acme/backend-template.")
    return value


def is_login(value: str) -> bool:
    return bool(re.fullmatch(LOGIN, value or ""))


def is_branch(value: str) -> bool:
    """A branch name git accepts (git check-ref-format's rules, for one branch)."""
    return (
        bool(value)
        and len(value) <= 255
        and not (
            value.startswith(("-", "/", "."))
            or value.endswith(("/", ".", ".lock"))
            or any(part in value for part in ("..", "//", "@{", "/."))
            or value == "@"
            or any(c in value for c in " ~^:?*[\\")
            or any(ord(c) < 32 or ord(c) == 127 for c in value)
        )
    )
