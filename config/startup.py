"""Start-up report: which database and which broker this process uses (secrets masked)."""

import logging
from urllib.parse import urlsplit, urlunsplit


def mask(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def describe_database() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"SQLite file {db['NAME']}"
    return (
        f"{engine} {db.get('USER') or ''}@{db.get('HOST') or 'localhost'}:{db.get('PORT') or ''}/{db['NAME']}"
    )


def describe_broker() -> str:
    from django.conf import settings

    if not settings.REDIS_URL:
        return "none configured (set REDIS_URL, or use make run)"
    return f"Redis {mask(settings.REDIS_URL)}"


def log_backends(logger: logging.Logger) -> None:
    logger.info("database: %s; broker: %s", describe_database(), describe_broker())
