"""Admin for the outbox (what each learner is told, when, and whether it went out), and for learners'
preferences and quiet hours."""

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import escape, format_html

from cohorts.models import Enrollment
from notifications import admin_templates  # noqa: F401 - registers the TemplateOverride admin
from notifications.models import Notification, Preference, QuietHours
from notifications.preferences import preference_set, quiet_hours_set, validate_quiet_hours
from notifications.render import render
from notifications.services import outbox_retry
from programs.relative import UnknownTimezoneError, resolve_zone


def _learner_zone(enrollment: Enrollment | None, cohort=None) -> str:
    """The learner's own zone if they set one, else their cohort's (an announcement: the cohort's)."""
    if enrollment is None:
        return cohort.timezone
    if enrollment.timezone:
        try:
            resolve_zone(enrollment.timezone)
            return enrollment.timezone
        except UnknownTimezoneError:
            pass  # a bad zone stored by hand must not make the list a 500
    return enrollment.cohort.timezone


def _in_zone(at: datetime | None, zone: str) -> str:
    return at.astimezone(resolve_zone(zone)).strftime("%Y-%m-%d %H:%M %Z") if at else "-"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The calendar writes the outbox and the sender moves it on; staff read it here."""

    # "created" is on each row's page, and the sent time sits under the status: the list fits 1,400 px
    # beside the admin's sidebar.
    list_display = ("what", "learner", "effective", "channel", "state")
    list_filter = (
        "kind",
        "status",
        "hold_reason",
        "channel",
        ("enrollment__cohort", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("enrollment__cohort", "cohort")
    search_fields = ("enrollment__email",)
    actions = ("retry",)
    # The change page is read-only (no change permission): what was sent, to whom, and how it went.
    fieldsets = (
        (None, {"fields": ("kind", "learner", "subject", "effective", "channel", "payload")}),
        (
            "Delivery",
            {
                "fields": (
                    ("status", "hold_reason"),
                    "digest",
                    "attempts",
                    "last_error",
                    "not_before",
                    "lease_until",
                    "created",
                    "sent",
                )
            },
        ),
        ("What the learner was told", {"fields": ("rendered_subject", "rendered_body", "message")}),
    )
    readonly_fields = ("learner", "effective", "created", "sent", "message")

    @admin.action(description="Retry the selected failed notifications")
    def retry(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = outbox_retry(ids=queryset.values_list("pk", flat=True))
        skipped = queryset.count() - count
        message = f"{count} notification(s) will be sent again."
        if skipped:
            message += f" {skipped} not failed: left alone."
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)

    @admin.display(description="the message, rendered now")
    def message(self, notification: Notification) -> str:
        # Subject, text and HTML as the templates (and staff's overrides) render it now: the HTML part in
        # a sandboxed frame (no scripts, no same-origin access). rendered_subject/body above are as sent.
        shown = render(notification)
        return format_html(
            '<p id="message-subject"><strong>{}</strong></p>'
            '<pre id="message-text" style="white-space: pre-wrap; max-width: 900px">{}</pre>'
            '<iframe id="message-html" sandbox="" title="HTML part" srcdoc="{}" '
            'style="width: 900px; height: 320px; border: 1px solid #ccc; background: #fff"></iframe>',
            shown.subject,
            shown.text,
            escape(shown.html),  # rendered templates are "safe" strings: escape for the attribute anyway
        )

    @admin.display(description="learner", ordering="enrollment__email")
    def learner(self, notification: Notification) -> str:
        if notification.enrollment is None:
            return f"{notification.cohort.name}: announcement"
        return notification.enrollment.email or "(no email address)"

    @admin.display(description="effective (learner's zone)", ordering="effective_at")
    def effective(self, notification: Notification) -> str:
        zone = _learner_zone(notification.enrollment, notification.cohort)
        return f"{_in_zone(notification.effective_at, zone)} ({zone})"

    @admin.display(description="created", ordering="created_at")
    def created(self, notification: Notification) -> str:
        return _in_zone(notification.created_at, _learner_zone(notification.enrollment, notification.cohort))

    @admin.display(description="kind (subject)", ordering="kind")
    def what(self, notification: Notification) -> str:
        return format_html("{}<br><small>{}</small>", notification.get_kind_display(), notification.subject)

    @admin.display(description="status (sent)", ordering="status")
    def state(self, notification: Notification) -> str:
        if notification.sent_at is None:
            return notification.get_status_display()
        return format_html("{}<br>{}", notification.get_status_display(), self.sent(notification))

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, notification: Notification) -> str:
        return _in_zone(notification.sent_at, _learner_zone(notification.enrollment, notification.cohort))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the calendar writes notifications; one added by hand would bypass its keys

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False  # the sender moves a row's status; staff read it


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    """How a learner gets one kind on one channel; no row: immediately (the one-click unsubscribe writes
    'off' here for email)."""

    list_display = ("learner", "cohort", "kind", "channel", "mode", "updated_at")
    list_filter = ("mode", "channel", "kind", ("enrollment__cohort", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("enrollment__cohort",)
    search_fields = ("enrollment__email",)
    autocomplete_fields = ("enrollment",)
    fields = ("enrollment", "kind", "channel", "mode")

    def get_readonly_fields(self, request: HttpRequest, obj: Preference | None = None) -> tuple:
        return ("enrollment", "kind", "channel") if obj else ()

    def save_model(self, request: HttpRequest, obj: Preference, form, change: bool) -> None:
        saved = preference_set(
            enrollment_id=obj.enrollment_id, kind=obj.kind, channel=obj.channel, mode=obj.mode
        )
        obj.pk = saved.pk

    @admin.display(description="learner", ordering="enrollment__email")
    def learner(self, preference: Preference) -> str:
        return preference.enrollment.email

    @admin.display(description="cohort", ordering="enrollment__cohort__name")
    def cohort(self, preference: Preference) -> str:
        return preference.enrollment.cohort.name


class QuietHoursForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(
        choices=Notification.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The kinds held during quiet hours; none ticked: every kind. In-app is never held.",
    )

    class Meta:
        model = QuietHours
        fields = ("enrollment", "enabled", "start", "end", "kinds")
        help_texts = {
            "start": "Local time in the learner's zone (their own, else their cohort's).",
            "end": "Held emails and chat messages go out at this local time; may be past midnight.",
        }

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None:
            try:
                validate_quiet_hours(start=start, end=end, kinds=data.get("kinds") or [])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return data


@admin.register(QuietHours)
class QuietHoursAdmin(admin.ModelAdmin):
    """A learner's own quiet hours; without a row, reminders wait out 22:00-07:00 in their local time."""

    form = QuietHoursForm
    list_display = ("learner", "cohort", "enabled", "hours", "zone", "held_kinds")
    list_filter = (("enrollment__cohort", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("enrollment__cohort",)
    search_fields = ("enrollment__email",)
    autocomplete_fields = ("enrollment",)

    def get_readonly_fields(self, request: HttpRequest, obj: QuietHours | None = None) -> tuple:
        return ("enrollment",) if obj else ()

    def save_model(self, request: HttpRequest, obj: QuietHours, form, change: bool) -> None:
        saved = quiet_hours_set(
            enrollment_id=obj.enrollment_id,
            start=obj.start,
            end=obj.end,
            kinds=form.cleaned_data["kinds"],
            enabled=obj.enabled,
        )
        obj.pk = saved.pk

    @admin.display(description="learner", ordering="enrollment__email")
    def learner(self, quiet: QuietHours) -> str:
        return quiet.enrollment.email

    @admin.display(description="cohort", ordering="enrollment__cohort__name")
    def cohort(self, quiet: QuietHours) -> str:
        return quiet.enrollment.cohort.name

    @admin.display(description="quiet hours (local)")
    def hours(self, quiet: QuietHours) -> str:
        return f"{quiet.start:%H:%M}-{quiet.end:%H:%M}"

    @admin.display(description="zone")
    def zone(self, quiet: QuietHours) -> str:
        return _learner_zone(quiet.enrollment)

    @admin.display(description="kinds held")
    def held_kinds(self, quiet: QuietHours) -> str:
        if not quiet.kinds:
            return "every kind"
        return ", ".join(
            str(Notification.Kind(k).label) if k in Notification.Kind.values else k for k in quiet.kinds
        )
