"""What a notification says: its subject and parts rendered from templates, times in the learner's zone.

`render(row) -> Rendered(subject, text, html)` is the one entry point every channel calls. It uses staff's
TemplateOverride for the row's kind and channel when there is one, else the built-in files:
`templates/notifications/email/<kind>.txt|.html` for email, `templates/notifications/short/<kind>.txt`
(one or two lines; its HTML is that text escaped) for the in-app feed and chat. An override that fails to
render (a variable it names is missing, a filter raises) is logged and the built-in is used: a staff
typo never stops delivery.

Payload conventions (Notification.payload, JSON; instants are ISO 8601 in UTC):
- every kind: "title" (the unit or project title), optional "cohort" (the cohort's name);
- unit_unlocked, window_opened, due_passed, window_closed: nothing more (the instant is effective_at);
- reminder: nothing more; the subject "<project>:<offset>" says how long before due (effective_at is
  when it is sent), e.g. "p0:1d";
- extension_granted: "due", "cutoff" (the learner's new due and cut-off);
- date_changed: "changes": [{"kind": unlock|open|due|close, "what": label, "old": iso, "new": iso}];
  the message shows the dates as they are when it is sent (the calendar is read again), so a burst of
  edits ends in one message with the final dates; "old" is what the learner was last told;
- ci_failed, ci_passed: "repository" ("owner/name"), "sha" (full), "url" (the commit or run), "status";
- repository_ready: "repository", "url".

Template context (what a template and an override may use): title, cohort, email, kind, subject_key,
zone (the zone's name), when (effective_at in the learner's zone, named), due (a reminder's due),
offset (a reminder's "1 day before"), rehearsal (bool), new_due / new_cutoff (extension_granted),
changes (date_changed: list of {what, old, new} as local text), repository, sha, short_sha, url, status
(CI, repository_ready), unsubscribe_url and feed_url ("" unless set by `extra_context`: email only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.template.loader import render_to_string
from django.utils.html import escape, linebreaks

from cohorts.changes import learner_dates
from notifications.models import Channel, Notification
from programs.relative import DurationError, UnknownTimezoneError, parse_duration, resolve_zone

logger = logging.getLogger(__name__)

Kind = Notification.Kind

SUBJECTS = {
    Kind.UNIT_UNLOCKED: "{title} is unlocked",
    Kind.WINDOW_OPENED: "{title}: submissions are open",
    Kind.REMINDER: "Reminder: {title} is due {due}",
    Kind.DUE_PASSED: "{title} was due {when}",
    Kind.WINDOW_CLOSED: "{title}: submissions are closed",
    Kind.EXTENSION_GRANTED: "{title}: your extension, due {new_due}",
    Kind.DATE_CHANGED: "{title}: dates changed",
    Kind.CI_FAILED: "{title}: CI failed on {short_sha}",
    Kind.CI_PASSED: "{title}: CI passed on {short_sha}",
    Kind.REPOSITORY_READY: "{title}: your repository {repository} is ready",
}
REHEARSAL_PREFIX = "[Rehearsal] "
# What each calendar date is called in a date_changed message (keys: cohorts.CohortEvent.Kind values).
DATE_LABELS = {
    "unlock": "Unlocks",
    "open": "Submissions open",
    "due": "Due",
    "close": "Cut-off (submissions close)",
}
DATE_ORDER = tuple(DATE_LABELS)
EMAIL_DIR = "notifications/email"
SHORT_DIR = "notifications/short"

# Other parts add to a message's context here (e.g. the unsubscribe link): each gets the row and the
# context built so far and returns keys to add. Registered at import time of the module that owns them.
extra_context: list[Callable[[Notification, dict], dict]] = []


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def learner_zone_name(row: Notification) -> str:
    """The learner's own zone if they set a valid one, else their cohort's (an announcement: the cohort's)."""
    cohort = row.enrollment.cohort if row.enrollment is not None else row.cohort
    zone = row.enrollment.timezone if row.enrollment is not None else ""
    if zone:
        try:
            resolve_zone(zone)
            return zone
        except UnknownTimezoneError:
            pass  # a bad zone stored by hand must not stop the message
    return cohort.timezone


def wall(at: datetime, zone_name: str) -> str:
    """An instant as the learner reads it: 'Fri 08 Jan 2027 17:00 WAT (Africa/Lagos)'."""
    local = at.astimezone(resolve_zone(zone_name))
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({zone_name})"


def _short(at: datetime, zone_name: str) -> str:
    local = at.astimezone(resolve_zone(zone_name))
    return f"{local:%a %d %b %H:%M} {local.tzname()}"


def _iso(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(td: timedelta) -> str:
    """'1 day', '2 hours 30 minutes': a reminder's offset as a learner reads it."""
    minutes = int(td.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if n
    ]
    return " ".join(parts) or "0 minutes"


def _current_dates(row: Notification) -> dict[str, datetime]:
    """A stored row's learner's dates as they are now (date_changed shows the final dates)."""
    if row.pk is None or row.enrollment is None or row.enrollment.pk is None:
        return {}  # a preview's made-up learner has no calendar
    return learner_dates(enrollment=row.enrollment, subject=row.subject)


def _date_changes(row: Notification, zone_name: str) -> list[dict]:
    current = _current_dates(row)
    changes = []
    for change in row.payload.get("changes") or []:
        kind = change.get("kind", "")
        old, new = _iso(change.get("old")), current.get(kind) or _iso(change.get("new"))
        if new is None:
            continue
        changes.append(
            {
                "kind": kind,
                "what": change.get("what") or DATE_LABELS.get(kind, kind),
                "old": wall(old, zone_name) if old else "",
                "new": wall(new, zone_name),
                "_order": DATE_ORDER.index(kind) if kind in DATE_ORDER else len(DATE_ORDER),
            }
        )
    changes.sort(key=lambda c: c["_order"])
    for change in changes:
        del change["_order"]
    return changes


def build_context(row: Notification) -> dict:
    """Everything a template of this row may show (see the module docstring)."""
    cohort = row.enrollment.cohort if row.enrollment is not None else row.cohort
    zone_name = learner_zone_name(row)
    payload = row.payload or {}
    # A reminder's instant is when it is sent; its subject ("p0:1d") says how long before the due.
    due_at, offset = row.effective_at, ""
    if row.kind == Kind.REMINDER and ":" in row.subject:
        try:
            before = parse_duration(row.subject.rpartition(":")[2])
            due_at, offset = row.effective_at + before, human_duration(before)
        except DurationError:
            pass
    sha = str(payload.get("sha") or "")
    new_due, new_cutoff = _iso(payload.get("due")), _iso(payload.get("cutoff"))
    context = {
        "kind": row.kind,
        "title": payload.get("title") or row.subject,
        "cohort": payload.get("cohort") or cohort.name,
        "email": row.enrollment.email if row.enrollment is not None else "everyone",  # the greeting
        "subject_key": row.subject,
        "zone": zone_name,
        "when": wall(row.effective_at, zone_name),
        "due": wall(due_at, zone_name),
        "offset": offset,
        "rehearsal": cohort.speed != 1,
        "new_due": wall(new_due, zone_name) if new_due else "",
        "new_cutoff": wall(new_cutoff, zone_name) if new_cutoff else "",
        "changes": _date_changes(row, zone_name) if row.kind == Kind.DATE_CHANGED else [],
        "repository": payload.get("repository", ""),
        "sha": sha,
        "short_sha": sha[:7],
        "url": payload.get("url", ""),
        "status": payload.get("status", ""),
        "unsubscribe_url": "",
        "feed_url": "",
        # For the built-in subjects: times without the year, a date_changed's due.
        "_when_short": _short(row.effective_at, zone_name),
        "_due_short": _short(due_at, zone_name),
        "_new_due_short": _short(new_due, zone_name) if new_due else "",
    }
    for add in extra_context:
        context.update(add(row, context))
    return context


def _builtin_subject(row: Notification, context: dict) -> str:
    template = SUBJECTS.get(row.kind, "{title}")
    return template.format(
        title=context["title"],
        when=context["_when_short"],
        due=context["_due_short"],
        new_due=context["_new_due_short"],
        short_sha=context["short_sha"] or "a commit",
        repository=context["repository"],
    )


def _mark_rehearsal(subject: str, context: dict) -> str:
    subject = " ".join(subject.split())  # one line, whatever a template produced
    if context["rehearsal"] and not subject.startswith(REHEARSAL_PREFIX):
        subject = REHEARSAL_PREFIX + subject
    return subject[:255]


def render_builtin(row: Notification, context: dict | None = None) -> Rendered:
    """The built-in files for the row's kind and channel."""
    context = build_context(row) if context is None else context
    subject = _mark_rehearsal(_builtin_subject(row, context), context)
    if row.channel == Channel.EMAIL:
        text = render_to_string(f"{EMAIL_DIR}/{row.kind}.txt", context)
        html = render_to_string(f"{EMAIL_DIR}/{row.kind}.html", context)
    else:
        text = render_to_string(f"{SHORT_DIR}/{row.kind}.txt", context).strip()
        html = linebreaks(escape(text))
    return Rendered(subject=subject, text=text, html=html)


def render(row: Notification) -> Rendered:
    """Render one row's message (its enrollment and cohort should be select_related).

    Staff's override for the row's kind and channel wins; if it fails, the built-in is used and the
    failure logged. Never raises for one row: a message that cannot be built at all says so plainly.
    """
    from notifications.overrides import override_for, render_override

    try:
        context = build_context(row)
    except Exception:
        logger.exception("notification %s (%s): its context cannot be built", row.pk, row.kind)
        title = (row.payload or {}).get("title") or row.subject
        return Rendered(subject=title, text=f"{title}\n", html=f"<p>{escape(title)}</p>")
    override = override_for(row.kind, row.channel)
    if override is not None:
        try:
            return render_override(override, row, context)
        except Exception as exc:  # noqa: BLE001 - a staff template must never stop delivery
            logger.warning(
                "notification %s: the %s/%s override failed (%s: %s); sent the built-in template instead",
                row.pk,
                row.kind,
                row.channel,
                type(exc).__name__,
                exc,
            )
    try:
        return render_builtin(row, context)
    except Exception:
        logger.exception("notification %s (%s): the built-in template failed", row.pk, row.kind)
        text = f"{context['title']}\n{context['when']}\n"
        return Rendered(subject=context["title"], text=text, html=linebreaks(escape(text)))
