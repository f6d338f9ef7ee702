"""The one page learners reach without logging in: unsubscribing from one kind of email."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from notifications.models import Channel, Notification, Preference
from notifications.preferences import preference_set
from notifications.unsubscribe import BadToken, read_token


# The signed token is the credential, and RFC 8058's one-click POST comes from a mailbox provider,
# which has no CSRF cookie: the token, not the session, protects this form.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: say what will be turned off, with a button. POST (the button, or one-click): turn it off.

    Only a POST changes anything: link scanners and previews that open every link in an email only GET.
    """
    try:
        target = read_token(token)
    except BadToken as exc:
        return render(request, "notifications/unsubscribe/invalid.html", {"reason": str(exc)}, status=400)
    context = {
        "email": target.enrollment.email,
        "cohort": target.enrollment.cohort.name,
        "kind_label": target.kind_label,
        "is_digest": target.kind == Notification.Kind.DIGEST,
    }
    if request.method != "POST":
        return render(request, "notifications/unsubscribe/confirm.html", context)
    preference_set(
        enrollment_id=target.enrollment.pk, kind=target.kind, channel=Channel.EMAIL, mode=Preference.Mode.OFF
    )
    return render(request, "notifications/unsubscribe/done.html", context)
