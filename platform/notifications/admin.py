"""Admin for the outbox: what each learner is told, when, and whether it went out."""

from datetime import datetime

from django.contrib import admin
from django.http import HttpRequest

from cohorts.models import Enrollment
from notifications.models import Notification
from programs.relative import UnknownTimezoneError, resolve_zone


def _learner_zone(enrollment: Enrollment) -> str:
    """The learner's own zone if they set one, else their cohort's."""
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
    list_select_related = ("enrollment__cohort",)
    search_fields = ("enrollment__email",)

    @admin.display(description="learner", ordering="enrollment__email")
    def learner(self, notification: Notification) -> str:
        return notification.enrollment.email

    @admin.display(description="effective (learner's zone)", ordering="effective_at")
    def effective(self, notification: Notification) -> str:
        zone = _learner_zone(notification.enrollment)
        return f"{_in_zone(notification.effective_at, zone)} ({zone})"

    @admin.display(description="created", ordering="created_at")
    def created(self, notification: Notification) -> str:
        return _in_zone(notification.created_at, _learner_zone(notification.enrollment))

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, notification: Notification) -> str:
        return _in_zone(notification.sent_at, _learner_zone(notification.enrollment))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the calendar writes notifications; one added by hand would bypass its keys

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False  # the sender moves a row's status; staff read it
