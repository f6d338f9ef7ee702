"""Admin for the outbox: what each learner is told, when, and whether it went out."""

from datetime import datetime

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cohorts.models import Enrollment
from notifications.models import Notification
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

    list_display = ("kind", "learner", "subject", "effective", "channel", "status", "created", "sent")
    list_filter = ("kind", "status", "channel", ("enrollment__cohort", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("enrollment__cohort", "cohort")
    search_fields = ("enrollment__email",)
    actions = ("retry",)
    # The change page is read-only (no change permission): what was sent, to whom, and how it went.
    fieldsets = (
        (None, {"fields": ("kind", "learner", "subject", "effective", "channel", "payload")}),
        (
            "Delivery",
            {"fields": ("status", "attempts", "last_error", "not_before", "lease_until", "created", "sent")},
        ),
        ("What the learner was told", {"fields": ("rendered_subject", "rendered_body")}),
    )
    readonly_fields = ("learner", "effective", "created", "sent")

    @admin.action(description="Retry the selected failed notifications")
    def retry(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = outbox_retry(ids=queryset.values_list("pk", flat=True))
        skipped = queryset.count() - count
        message = f"{count} notification(s) will be sent again."
        if skipped:
            message += f" {skipped} not failed: left alone."
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)

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

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, notification: Notification) -> str:
        return _in_zone(notification.sent_at, _learner_zone(notification.enrollment, notification.cohort))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the calendar writes notifications; one added by hand would bypass its keys

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False  # the sender moves a row's status; staff read it
