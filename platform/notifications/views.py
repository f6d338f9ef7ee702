"""The learner's in-app feed (an entry point): their notifications, newest first, and marking them read."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render as render_page
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cohorts.models import Enrollment
from notifications.models import Notification
from notifications.preferences_forms import PreferencesForm
from notifications.render import learner_zone_name, render
from notifications.selectors import feed_rows, feed_unread_count
from notifications.services import feed_mark_read
from notifications.signin import BadLink, read_token
from programs.relative import resolve_zone

PAGE = 50
logger = logging.getLogger("nexus.notifications")


@dataclass(frozen=True)
class Entry:
    id: int
    subject: str
    text: str
    when: str
    unread: bool


def _entry(row: Notification) -> Entry:
    try:
        shown = render(row)
        subject, text = shown.subject, shown.text
    except Exception:  # a template staff broke must not take the learner's feed down with it
        logger.exception("cannot render notification %s for the feed", row.pk)
        subject, text = row.rendered_subject or row.get_kind_display(), row.rendered_body
    zone = learner_zone_name(row)
    local = row.created_at.astimezone(resolve_zone(zone))
    return Entry(
        id=row.pk,
        subject=subject,
        text=text,
        when=f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({zone})",
        unread=row.read_at is None,
    )


@login_required
@require_GET
def feed(request: HttpRequest) -> HttpResponse:
    """PAGE entries a page, newest first; ?page=N for older ones (a page past the last shows the last)."""
    pages = Paginator(feed_rows(user_id=request.user.pk), PAGE)
    page = pages.get_page(request.GET.get("page"))
    context = {
        "entries": [_entry(row) for row in page.object_list],
        "page": page,
        "unread": feed_unread_count(user_id=request.user.pk),
    }
    return render_page(request, "notifications/feed/feed.html", context)


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """POST id=<n> marks that one read; no id marks them all. Another learner's id is a 404."""
    raw = request.POST.get("id", "").strip()
    if not raw:
        feed_mark_read(user_id=request.user.pk)
        return HttpResponseRedirect(reverse("feed"))
    try:
        pk = int(raw)
    except ValueError:
        return HttpResponseBadRequest("id: not a notification number.", content_type="text/plain")
    if not feed_rows(user_id=request.user.pk).filter(pk=pk).exists():
        return HttpResponse("No such notification in your feed.", status=404, content_type="text/plain")
    feed_mark_read(user_id=request.user.pk, ids=[pk])
    return HttpResponseRedirect(reverse("feed"))


@require_GET
def signin(request: HttpRequest, token: str) -> HttpResponse:
    """The link in every email: signs the learner in (accounts have no password) and opens their feed."""
    try:
        user = read_token(token)
    except BadLink as exc:
        return render_page(request, "notifications/feed/link_invalid.html", {"reason": str(exc)}, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(reverse("feed"))


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """Each of the learner's enrollments (usually one): how each kind reaches them, quiet hours, digest.

    A POST carries one enrollment's form (its id in `enrollment`); another learner's id is a 404.
    """
    enrollments = list(
        Enrollment.objects.filter(user_id=request.user.pk)
        .select_related("cohort")
        .order_by("-cohort__start_date")
    )
    if not enrollments:
        return render_page(request, "notifications/feed/preferences.html", {"forms": []})
    chosen = None
    if request.method == "POST":
        raw = request.POST.get("enrollment", "")
        chosen = next((e for e in enrollments if str(e.pk) == raw), None)
        if chosen is None:
            return HttpResponse("No such enrollment of yours.", status=404, content_type="text/plain")
    forms = []
    for enrollment in enrollments:
        bound = enrollment == chosen
        form = PreferencesForm(
            request.POST if bound else None, enrollment=enrollment, prefix=f"e{enrollment.pk}"
        )
        if bound and form.is_valid():
            changed = form.save()
            settings_changed = f"{changed} setting{'' if changed == 1 else 's'}"
            messages.success(
                request,
                f"Saved: {settings_changed} changed for {enrollment.cohort.name}. "
                "They apply to messages from now on."
                if changed
                else "Nothing changed.",
            )
            return HttpResponseRedirect(reverse("feed-preferences"))
        zone = enrollment.timezone or enrollment.cohort.timezone
        forms.append({"enrollment": enrollment, "form": form, "zone": zone})
    status = 400 if chosen is not None else 200
    return render_page(request, "notifications/feed/preferences.html", {"forms": forms}, status=status)
