"""Staff's template overrides: compiled strictly (a missing variable is an error, with its line), checked on
save against a sample learner, and looked up by kind and channel when a message is rendered."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from functools import cache

from django.template import Context, Engine, TemplateSyntaxError
from django.template.backends.django import get_installed_libraries
from django.utils.html import escape, linebreaks
from django.utils.safestring import mark_safe

from cohorts.models import Cohort, Enrollment
from core import clock
from notifications.models import Channel, Notification, TemplateOverride
from notifications.render import EMAIL_DIR, Rendered, _builtin_subject, _mark_rehearsal, build_context

Kind = Notification.Kind
CACHE_SECONDS = 5.0  # other processes see a saved override within this; this process at once
FIELDS = ("subject", "text", "html")


class MissingVariable(Exception):
    """A variable an override names is not in the message's context."""


class _RaiseOnMissing(str):
    """Django's string_if_invalid, made to raise: formatted with the variable's name ('%s' in it)."""

    __slots__ = ()

    def __contains__(self, item: object) -> bool:
        return item == "%s"

    def __mod__(self, name: object) -> str:
        raise MissingVariable(f"unknown variable '{name}'")


@cache
def engine(*, autoescape: bool) -> Engine:
    """Debug on whatever settings.DEBUG says: errors then carry their line (template_debug)."""
    return Engine(
        app_dirs=True,
        debug=True,
        autoescape=autoescape,
        string_if_invalid=_RaiseOnMissing("!"),
        libraries=get_installed_libraries(),
    )


def _render(source: str, context: dict, *, html: bool) -> str:
    eng = engine(autoescape=html)
    return eng.from_string(source).render(Context(context, autoescape=html))


def describe(exc: Exception) -> str:
    """'Line 3: Invalid block tag ...' from a template error (the line when Django knows it)."""
    info = getattr(exc, "template_debug", None)
    message = str(exc) or type(exc).__name__
    if info and info.get("line"):
        line = info["line"]
        source_lines = dict(info.get("source_lines") or [])
        shown = source_lines.get(line, "").strip()
        where = f"Line {line}" + (f" ({shown[:80]})" if shown else "")
        return f"{where}: {message}"
    return message


# --- lookup ---------------------------------------------------------------------------------------

_lock = threading.Lock()
_loaded_at = -CACHE_SECONDS
_by_key: dict[tuple[str, str], TemplateOverride] = {}


def overrides_changed(**kwargs: object) -> None:
    """Forget the cached overrides (connected to TemplateOverride's save and delete)."""
    global _loaded_at
    with _lock:
        _loaded_at = -CACHE_SECONDS


def override_for(kind: str, channel: str) -> TemplateOverride | None:
    """Staff's override for this kind and channel, if any; the table is small and read once per few s."""
    global _loaded_at, _by_key
    with _lock:
        if time.monotonic() - _loaded_at >= CACHE_SECONDS:
            _by_key = {(o.kind, o.channel): o for o in TemplateOverride.objects.all()}
            _loaded_at = time.monotonic()
        return _by_key.get((kind, channel))


def render_override(override: TemplateOverride, row: Notification, context: dict) -> Rendered:
    """The row rendered with staff's wording; raises on any error (the caller falls back)."""
    if override.subject.strip():
        subject = _render(override.subject, context, html=False)
    else:
        subject = _builtin_subject(row, context)
    text = _render(override.text, context, html=False)
    if override.html.strip():
        html = _render(override.html, context, html=True)
    elif row.channel == Channel.EMAIL:
        layout = engine(autoescape=True).get_template(f"{EMAIL_DIR}/_override_layout.html")
        html = layout.render(Context({**context, "body": mark_safe(linebreaks(text, autoescape=True))}))  # noqa: S308 - escaped here
    else:
        html = linebreaks(escape(text))
    return Rendered(subject=_mark_rehearsal(subject, context), text=text, html=html)


# --- a sample learner (previews, and the check on save) ---------------------------------------------


def made_up_enrollment() -> Enrollment:
    """A learner who exists nowhere: Kolkata time, in a Lagos cohort (so both zones are exercised)."""
    cohort = Cohort(name="Sample cohort", timezone="Africa/Lagos", speed=1.0)
    return Enrollment(cohort=cohort, email="learner@example.com", timezone="Asia/Kolkata")


def _sample_title(enrollment: Enrollment, kind: str) -> tuple[str, str]:
    """(subject key, title): a unit for an unlock, else a project, of the learner's program if real."""
    cohort = enrollment.cohort
    if cohort.pk:
        if kind == Kind.UNIT_UNLOCKED:
            unit = cohort.program.units.order_by("pk").first()
            if unit is not None:
                return unit.key, unit.title
        else:
            project = cohort.program.projects.order_by("pk").first()
            if project is not None:
                return project.key, project.title
    if kind == Kind.UNIT_UNLOCKED:
        return "week-1", "Week 1: Python generators"
    return "airbnb-clone", "Airbnb clone: the database"


def sample_row(*, kind: str, channel: str, enrollment: Enrollment | None = None) -> Notification:
    """An unsaved notification of this kind for a sample learner, with a typical payload."""
    enrollment = enrollment or made_up_enrollment()
    key, title = _sample_title(enrollment, kind)
    now = clock.now().replace(second=0, microsecond=0)
    at = now + timedelta(days=2)
    payload: dict = {"title": title}
    subject = key
    if kind == Kind.REMINDER:
        subject = f"{key}:1d"
    elif kind == Kind.EXTENSION_GRANTED:
        payload |= {
            "due": (at + timedelta(days=7)).isoformat(),
            "cutoff": (at + timedelta(days=9)).isoformat(),
        }
    elif kind == Kind.DATE_CHANGED:
        payload["changes"] = [
            {"kind": "due", "what": "Due", "old": at.isoformat(), "new": (at + timedelta(days=1)).isoformat()}
        ]
    elif kind in (Kind.CI_FAILED, Kind.CI_PASSED):
        sha = "3f2c9a1b7e4d5c6a8b9f0e1d2c3b4a5968778695"
        payload |= {
            "repository": "nexus-learners/airbnb-clone-ada",
            "sha": sha,
            "url": f"https://github.com/nexus-learners/airbnb-clone-ada/commit/{sha}",
            "status": "failure" if kind == Kind.CI_FAILED else "success",
        }
    elif kind == Kind.REPOSITORY_READY:
        payload |= {
            "repository": "nexus-learners/airbnb-clone-ada",
            "url": "https://github.com/nexus-learners/airbnb-clone-ada",
        }
    row = Notification(
        kind=kind,
        cohort=enrollment.cohort,
        subject=subject,
        effective_at=at,
        channel=channel,
        payload=payload,
    )
    row.enrollment = enrollment
    return row


def override_check(*, kind: str, channel: str, subject: str, text: str, html: str) -> dict[str, str]:
    """Field -> error: each part must compile, then render for a sample learner of this kind with every
    variable it names known. Empty: the override is usable."""
    sources = {"subject": subject or "", "text": text or "", "html": html or ""}
    errors: dict[str, str] = {}
    compiled = {}
    for name, source in sources.items():
        if not source.strip():
            continue
        try:
            compiled[name] = engine(autoescape=name == "html").from_string(source)
        except TemplateSyntaxError as exc:
            errors[name] = describe(exc)
    if errors:
        return errors
    row = sample_row(kind=kind, channel=channel)
    context = build_context(row)
    for name, template in compiled.items():
        try:
            template.render(Context(context, autoescape=name == "html"))
        except Exception as exc:  # noqa: BLE001 - any render error is the form's error, never a 500
            errors[name] = describe(exc)
    return errors
