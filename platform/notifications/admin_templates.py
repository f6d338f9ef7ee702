"""Admin for template overrides: staff's wording per kind and channel, checked on save, previewed for a
sample learner (a real enrollment or a made-up one), built-in templates included."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from cohorts.models import Enrollment
from notifications.models import Channel, Notification, TemplateOverride
from notifications.overrides import made_up_enrollment, override_check, render_override, sample_row
from notifications.render import Rendered, build_context, render_builtin

PREVIEW_LEARNERS = 200  # the learner menu of a preview: enough to pick one of each cohort


class TemplateOverrideForm(forms.ModelForm):
    class Meta:
        model = TemplateOverride
        fields = ("kind", "channel", "subject", "text", "html")
        widgets = {
            "subject": forms.TextInput(attrs={"size": 100}),
            "text": forms.Textarea(attrs={"rows": 14, "cols": 100, "style": "font-family: monospace"}),
            "html": forms.Textarea(attrs={"rows": 14, "cols": 100, "style": "font-family: monospace"}),
        }

    def clean(self) -> dict:
        data = super().clean()
        kind, channel = data.get("kind"), data.get("channel")
        if kind and channel:
            errors = override_check(
                kind=kind,
                channel=channel,
                subject=data.get("subject", ""),
                text=data.get("text", ""),
                html=data.get("html", ""),
            )
            for name, message in errors.items():
                self.add_error(name, message)
        return data


def _learner(request: HttpRequest) -> Enrollment:
    """The learner a preview renders for: ?enrollment=<id>, else a made-up one."""
    raw = request.GET.get("enrollment", "")
    if raw.isdigit():
        found = Enrollment.objects.select_related("cohort__program").filter(pk=int(raw)).first()
        if found is not None:
            return found
    return made_up_enrollment()


@admin.register(TemplateOverride)
class TemplateOverrideAdmin(admin.ModelAdmin):
    """Staff's wording replaces the built-in template of one kind on one channel."""

    form = TemplateOverrideForm
    list_display = ("kind", "channel", "subject", "updated_at")
    list_filter = ("kind", "channel")
    fieldsets = (
        (None, {"fields": ("kind", "channel")}),
        (
            "Wording (Django template language)",
            {
                "fields": ("subject", "text", "html"),
                "description": (
                    "Variables: title, cohort, email, when, due, offset, zone, rehearsal, new_due, new_cutoff, "
                    "changes (each: what, old, new), repository, sha, short_sha, url, status, "
                    "unsubscribe_url, feed_url (email). Times are already in the learner's zone, with the zone named. A variable "
                    "that does not exist is an error (use {% if name %} for optional ones); a subject is "
                    "one line, and a rehearsal cohort's gets '[Rehearsal] ' in front."
                ),
            },
        ),
    )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_builtin), name="notifications_templateoverride_builtin"),
            path(
                "<int:pk>/preview/",
                view(self.preview_override),
                name="notifications_templateoverride_preview",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra = {"builtin_preview_url": reverse("admin:notifications_templateoverride_builtin")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def preview_builtin(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        kind = request.GET.get("kind") or Notification.Kind.UNIT_UNLOCKED
        channel = request.GET.get("channel") or Channel.EMAIL
        if kind not in Notification.Kind.values or channel not in Channel.values:
            raise Http404("No such kind or channel.")
        row = sample_row(kind=kind, channel=channel, enrollment=_learner(request))
        try:
            rendered, error = render_builtin(row), ""
        except Exception as exc:  # noqa: BLE001 - e.g. a kind whose templates another part ships
            rendered, error = None, f"{type(exc).__name__}: {exc}"
        return self._preview(request, row, rendered, error, override=None)

    def preview_override(self, request: HttpRequest, pk: int) -> HttpResponse:
        override = TemplateOverride.objects.filter(pk=pk).first()
        if override is None:
            raise Http404("No such override.")
        if not self.has_view_permission(request, override):
            raise PermissionDenied
        row = sample_row(kind=override.kind, channel=override.channel, enrollment=_learner(request))
        try:
            rendered, error = render_override(override, row, build_context(row)), ""
        except Exception as exc:  # noqa: BLE001 - shown to staff; at send time the built-in is used
            rendered, error = None, f"{type(exc).__name__}: {exc}"
        return self._preview(request, row, rendered, error, override=override)

    def _preview(
        self,
        request: HttpRequest,
        row: Notification,
        rendered: Rendered | None,
        error: str,
        *,
        override: TemplateOverride | None,
    ) -> HttpResponse:
        learners = Enrollment.objects.select_related("cohort").order_by("cohort__name", "email")
        what = f"{row.get_kind_display()} by {row.get_channel_display()}"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview: {what}" + (" (staff's override)" if override else " (built-in)"),
            "override": override,
            "row": row,
            "rendered": rendered,
            "error": error,
            "learner": row.enrollment,
            "made_up": row.enrollment.pk is None,
            "learners": learners[:PREVIEW_LEARNERS],
            "kinds": Notification.Kind.choices,
            "channels": Channel.choices,
            "builtin_url": reverse("admin:notifications_templateoverride_builtin"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/notifications/templateoverride/preview.html", context)
