"""Admin for GitHub deliveries (with "process again"), hooks and what they told us about commits."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from submissions.models import CommitCheck, Push
from tasks.enqueue import enqueue_or_leave_to_sweep
from webhooks.models import Delivery, Hook
from webhooks.receiver import rejection_counts
from webhooks.services import delivery_requeue
from webhooks.tasks import process_delivery

# Long names and errors wrap, so the lists fit a 1,400 px screen.
LIST_CSS = "core/admin-lists.css"


class ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly, admin.ModelAdmin):
    class Media:
        css = {"all": (LIST_CSS,)}

    list_display = (
        "event",
        "action",
        "repository",
        "received",
        "state",
        "outcome",
        "attempts",
        "short_error",
    )
    list_filter = ("state", "outcome", "event")
    search_fields = ("delivery_id", "repository")
    date_hierarchy = "received_at"
    actions = ("process_again",)
    fields = (
        "delivery_id",
        "event",
        "action",
        "repository",
        "hook_id",
        "received_at",
        "state",
        "outcome",
        "attempts",
        "claimed_at",
        "processed_at",
        "error",
        "payload",
    )

    @admin.display(description="received (UTC)", ordering="received_at")
    def received(self, delivery: Delivery) -> str:
        return delivery.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")

    @admin.display(description="error")
    def short_error(self, delivery: Delivery) -> str:
        return delivery.error[:80]

    @admin.action(description="Process the selected deliveries again")
    def process_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        ids = delivery_requeue(ids=list(queryset.values_list("pk", flat=True)))
        # The first refusal stops the rest: the sweep takes them all the same.
        published = all(enqueue_or_leave_to_sweep(process_delivery, pk) for pk in ids)
        skipped = queryset.count() - len(ids)
        message = f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} queued to be processed again."
        if not published:
            message += (
                " The broker is unreachable right now, so the drain's periodic sweep (every "
                f"{settings.NEXUS_WEBHOOK_SWEEP_EVERY} s) will process them once it is back."
            )
        if skipped:
            message += f" {skipped} being processed right now: left alone."
        self.message_user(request, message, messages.SUCCESS if ids else messages.WARNING)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        # Refused deliveries are never stored; ops see how many were refused, and why, here.
        counts = rejection_counts()
        if counts:
            listed = ", ".join(f"{reason.replace('_', ' ')}: {n}" for reason, n in counts.items())
            self.message_user(request, f"Refused deliveries (never stored) so far: {listed}.", messages.INFO)
        return super().changelist_view(request, extra_context)


@admin.register(Hook)
class HookAdmin(ReadOnly, admin.ModelAdmin):
    class Media:
        css = {"all": (LIST_CSS,)}

    list_display = ("hook_id", "kind", "target", "verified", "event_list")
    search_fields = ("target",)

    @admin.display(description="verified (UTC)", ordering="verified_at")
    def verified(self, hook: Hook) -> str:
        return hook.verified_at.strftime("%Y-%m-%d %H:%M UTC") if hook.verified_at else "not yet (no ping)"

    @admin.display(description="events")
    def event_list(self, hook: Hook) -> str:
        return ", ".join(hook.events)


@admin.register(CommitCheck)
class CommitCheckAdmin(ReadOnly, admin.ModelAdmin):
    class Media:
        css = {"all": (LIST_CSS,)}

    # GitHub's own conclusion beside the state, and the time received on the detail page: fits 1,400 px.
    list_display = ("repository", "short_sha", "source", "name", "state_and_conclusion", "updated")
    list_filter = ("state", "source")
    search_fields = ("repository", "sha", "name")

    @admin.display(description="commit", ordering="sha")
    def short_sha(self, check: CommitCheck) -> str:
        return check.sha[:10]

    @admin.display(description="state (GitHub's)", ordering="state")
    def state_and_conclusion(self, check: CommitCheck) -> str:
        label = check.get_state_display()
        return (
            f"{label} ({check.conclusion})" if check.conclusion and check.conclusion != check.state else label
        )

    @admin.display(description="GitHub's time (UTC)", ordering="updated_at")
    def updated(self, check: CommitCheck) -> str:
        return check.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")

    @admin.display(description="received (UTC)", ordering="received_at")
    def received(self, check: CommitCheck) -> str:
        return check.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")


@admin.register(Push)
class PushAdmin(ReadOnly, admin.ModelAdmin):
    class Media:
        css = {"all": (LIST_CSS,)}

    list_display = ("repository", "branch", "short_after", "commit_count", "forced", "received")
    list_filter = ("forced",)
    search_fields = ("repository", "branch", "after")

    @admin.display(description="head", ordering="after")
    def short_after(self, push: Push) -> str:
        return push.after[:10]

    @admin.display(description="commits")
    def commit_count(self, push: Push) -> int:
        return len(push.commits)

    @admin.display(description="received (UTC)", ordering="received_at")
    def received(self, push: Push) -> str:
        return push.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")
