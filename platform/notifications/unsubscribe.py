"""One-click unsubscribe: a signed token per (learner, kind) that needs no login, and its absolute URL."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from cohorts.models import Enrollment
from notifications import render
from notifications.models import Channel, Notification

_SALT = "nexus.notifications.unsubscribe"


class BadToken(Exception):
    """The link is not one we made (tampered, truncated) or no longer points at a learner; says why."""


@dataclass(frozen=True)
class Unsubscribe:
    enrollment: Enrollment
    kind: str

    @property
    def kind_label(self) -> str:
        return Notification.Kind(self.kind).label


def make_token(*, enrollment_id: int, kind: str) -> str:
    # No expiry: an unsubscribe link in an old email must still work (RFC 8058 asks for that too).
    return signing.Signer(salt=_SALT).sign(f"{enrollment_id}.{kind}")


def read_token(token: str) -> Unsubscribe:
    """The learner and kind a token names, or BadToken with the reason."""
    try:
        value = signing.Signer(salt=_SALT).unsign(token)
    except signing.BadSignature:
        raise BadToken("This unsubscribe link is not valid: it was changed or cut short.") from None
    raw_id, _, kind = value.partition(".")
    if not raw_id.isdigit() or kind not in Notification.Kind.values:
        raise BadToken("This unsubscribe link is not valid: it names no kind of message we send.")
    enrollment = Enrollment.objects.select_related("cohort").filter(pk=int(raw_id)).first()
    if enrollment is None:
        raise BadToken("This unsubscribe link is for an enrollment that no longer exists.")
    return Unsubscribe(enrollment=enrollment, kind=kind)


def unsubscribe_url(row: Notification) -> str:
    """The absolute link that turns this row's kind off by email for its learner ("" for announcements)."""
    if not row.enrollment_id:
        return ""
    path = reverse(
        "notifications:unsubscribe", args=[make_token(enrollment_id=row.enrollment_id, kind=row.kind)]
    )
    return settings.NEXUS_PUBLIC_URL.rstrip("/") + path


def _link(row: Notification, context: dict) -> dict:
    """The footer's unsubscribe link (email only: a feed or chat message has nothing to unsubscribe from)."""
    return {"unsubscribe_url": unsubscribe_url(row)} if row.channel == Channel.EMAIL else {}


render.extra_context.append(_link)
