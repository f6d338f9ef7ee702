"""What a notification says: its subject and parts rendered from templates, times in the learner's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.template.loader import render_to_string

from notifications.models import Notification
from notifications.unsubscribe import unsubscribe_url
from programs.relative import DurationError, UnknownTimezoneError, parse_duration, resolve_zone

SUBJECTS = {
    Notification.Kind.UNIT_UNLOCKED: "{title} is unlocked",
    Notification.Kind.WINDOW_OPENED: "{title}: submissions are open",
    Notification.Kind.REMINDER: "Reminder: {title} is due {due}",
    Notification.Kind.DUE_PASSED: "{title} was due {when}",
    Notification.Kind.WINDOW_CLOSED: "{title}: submissions are closed",
    Notification.Kind.DIGEST: "{title}",
}
REHEARSAL_PREFIX = "[Rehearsal] "


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def learner_zone_name(row: Notification) -> str:
    """The learner's own zone if they set a valid one, else their cohort's (an announcement: the cohort's)."""
    if row.enrollment_id is None:
        return row.cohort.timezone
    zone = row.enrollment.timezone
    if zone:
        try:
            resolve_zone(zone)
            return zone
        except UnknownTimezoneError:
            pass  # a bad zone stored by hand must not stop the message
    return row.cohort.timezone


def _wall(local: datetime, zone_name: str) -> str:
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({zone_name})"


def render(row: Notification, template_dir: str = "notifications/email") -> Rendered:
    """Render one row's message; the rows's enrollment and cohort should be select_related."""
    cohort = row.cohort
    zone_name = learner_zone_name(row)
    zone = resolve_zone(zone_name)
    local = row.effective_at.astimezone(zone)
    when = _wall(local, zone_name)
    # A reminder's instant is when it is sent; its subject ("p0:1d") says how long before the due.
    due_local = local
    if row.kind == Notification.Kind.REMINDER and ":" in row.subject:
        try:
            due_local = (row.effective_at + parse_duration(row.subject.rpartition(":")[2])).astimezone(zone)
        except DurationError:
            pass
    title = row.payload.get("title") or row.subject
    rehearsal = cohort.speed != 1
    context = {
        "title": title,
        "cohort": row.payload.get("cohort") or cohort.name,
        "when": when,
        "due": _wall(due_local, zone_name),
        "zone": zone_name,
        "rehearsal": rehearsal,
        "email": row.enrollment.email if row.enrollment_id is not None else "everyone",  # the greeting
        "subject_key": row.subject,
        "unsubscribe_url": unsubscribe_url(row),
    }
    if row.kind == Notification.Kind.DIGEST:  # what it lists: the rows held for it, oldest first
        context["items"] = [
            {"subject": render(item).subject, "when": _wall(item.effective_at.astimezone(zone), zone_name)}
            for item in row.digested.select_related("enrollment__cohort").order_by("effective_at", "pk")
        ]
    subject = SUBJECTS[row.kind].format(
        title=title,
        when=f"{local:%a %d %b %H:%M} {local.tzname()}",
        due=f"{due_local:%a %d %b %H:%M} {due_local.tzname()}",
    )
    if rehearsal:
        subject = REHEARSAL_PREFIX + subject
    text = render_to_string(f"{template_dir}/{row.kind}.txt", context)
    html = render_to_string(f"{template_dir}/{row.kind}.html", context)
    return Rendered(subject=subject, text=text, html=html)
