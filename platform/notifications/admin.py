"""Admin for the outbox."""

from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("kind", "subject", "enrollment", "effective_at", "channel", "status", "created_at")
    list_filter = ("kind", "status", "channel")
    search_fields = ("subject", "enrollment__email")
