"""Which webhook secrets sign a delivery: per repository, else per organisation, else the default."""

from __future__ import annotations

import json
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

DEFAULT = "*"
# Two secrets are accepted at once during a rotation (the new one first); more would be a mistake.
MAX_PER_SCOPE = 2


def parse_secrets(raw: str) -> dict[str, tuple[str, ...]]:
    """GITHUB_WEBHOOK_SECRETS: a JSON object scope -> secret or [new, old], or one bare default secret.

    Scopes: "*" (default), "owner" (an organisation or user), "owner/name" (a repository); case-insensitive.
    """
    raw = raw.strip()
    if not raw:
        return {}
    if not raw.startswith("{"):
        return {DEFAULT: (raw,)}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"GITHUB_WEBHOOK_SECRETS is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured("GITHUB_WEBHOOK_SECRETS must be a JSON object: scope -> secret(s).")
    parsed: dict[str, tuple[str, ...]] = {}
    for scope, value in data.items():
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= MAX_PER_SCOPE
            or not all(isinstance(v, str) and v for v in values)
        ):
            raise ImproperlyConfigured(
                f"GITHUB_WEBHOOK_SECRETS[{scope!r}] must be a non-empty secret or a list of "
                f"{MAX_PER_SCOPE} (the new one and the old one during a rotation)."
            )
        if scope != DEFAULT and scope.count("/") > 1:
            raise ImproperlyConfigured(
                f"GITHUB_WEBHOOK_SECRETS scope {scope!r} is neither '*', an owner nor owner/name."
            )
        parsed[scope.strip().lower()] = tuple(values)
    return parsed


def secrets_for(configured: Mapping[str, tuple[str, ...]], payload: object) -> tuple[str, ...]:
    """The secrets a delivery about this payload's repository (or organisation) may be signed with."""
    repository = owner = ""
    if isinstance(payload, dict):
        repo = payload.get("repository")
        if isinstance(repo, dict) and isinstance(repo.get("full_name"), str):
            repository = repo["full_name"].lower()
            owner = repository.partition("/")[0]
        org = payload.get("organization")
        if not owner and isinstance(org, dict) and isinstance(org.get("login"), str):
            owner = org["login"].lower()
    for scope in (repository, owner, DEFAULT):
        if scope and scope in configured:
            return configured[scope]
    return ()
