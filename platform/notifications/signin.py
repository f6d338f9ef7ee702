"""Sign-in by link: every email carries a signed link to the learner's feed (learners' accounts have no password)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import reverse

from core import clock
from notifications import render
from notifications.models import Channel, Notification

_SALT = "nexus.notifications.feed-signin"


class BadLink(Exception):
    """The link is not one we made, has expired, or names no learner who may use it; says why."""


def make_token(*, user_id: int) -> str:
    # The issue time is read from the one clock and checked by read_token (not TimestampSigner, whose age
    # check reads time.time() behind the clock's back).
    return signing.Signer(salt=_SALT).sign(f"{user_id}.{int(clock.now().timestamp())}")


def read_token(token: str):
    """The learner's user a token names, or BadLink with the reason."""
    try:
        value = signing.Signer(salt=_SALT).unsign(token)
    except signing.BadSignature:
        raise BadLink("This sign-in link is not valid: it was changed or cut short.") from None
    raw_id, _, raw_at = value.partition(".")
    if not raw_id.isdigit() or not raw_at.isdigit():
        raise BadLink("This sign-in link is not valid.")
    age = clock.now().timestamp() - int(raw_at)
    if age > timedelta(days=settings.NEXUS_FEED_LINK_DAYS).total_seconds():
        raise BadLink(
            f"This sign-in link has expired (links last {settings.NEXUS_FEED_LINK_DAYS} days); "
            "the link in any newer email works."
        )
    user = get_user_model().objects.filter(pk=int(raw_id), is_active=True).first()
    if user is None or not user.enrollments.exists():
        raise BadLink("This sign-in link is for an account that no longer exists.")
    if user.is_staff or user.is_superuser:
        # A staff account signs in with its password; a link in a forwarded email must never open the admin.
        raise BadLink("Staff accounts sign in with their password.")
    return user


def feed_url(row: Notification) -> str:
    """The absolute link that signs this row's learner in and opens their feed ("" for announcements)."""
    if row.enrollment is None or not row.enrollment.user_id:
        return ""
    path = reverse("feed-signin", args=[make_token(user_id=row.enrollment.user_id)])
    return settings.NEXUS_PUBLIC_URL.rstrip("/") + path


def _link(row: Notification, context: dict) -> dict:
    """Each email's footer links to the learner's feed."""
    return {"feed_url": feed_url(row)} if row.channel == Channel.EMAIL else {}


render.extra_context.append(_link)
