"""Writing a learner's notification preferences and quiet hours (both read by notifications.policy)."""

from __future__ import annotations

from datetime import time

from django.core.exceptions import ValidationError
from django.db import transaction

from notifications.models import Notification, Preference, QuietHours


@transaction.atomic
def preference_set(*, enrollment_id: int, kind: str, channel: str, mode: str) -> Preference:
    """Set how this learner gets this kind on this channel (one row per learner, kind and channel)."""
    preference, created = Preference.objects.select_for_update().get_or_create(
        enrollment_id=enrollment_id, kind=kind, channel=channel, defaults={"mode": mode}
    )
    if created or preference.mode != mode:  # checked before it counts (a refusal undoes the row)
        preference.mode = mode
        preference.full_clean()
        preference.save(update_fields=["mode", "updated_at"])
    return preference


@transaction.atomic
def quiet_hours_set(
    *, enrollment_id: int, start: time, end: time, kinds: list[str], enabled: bool = True
) -> QuietHours:
    """Set a learner's quiet hours (local time; kinds empty: every kind; not enabled: none at all). Start
    and end must differ. Rows already held keep the time they were held until."""
    quiet, _ = QuietHours.objects.select_for_update().get_or_create(
        enrollment_id=enrollment_id, defaults={"start": start, "end": end, "kinds": kinds, "enabled": enabled}
    )
    quiet.start, quiet.end, quiet.kinds, quiet.enabled = start, end, list(kinds), enabled
    if enabled:  # hours that are off are only kept for when they are turned on again
        validate_quiet_hours(start=start, end=end, kinds=quiet.kinds)
    quiet.full_clean()
    quiet.save()
    return quiet


def validate_quiet_hours(*, start: time, end: time, kinds: list[str]) -> None:
    if start == end:
        raise ValidationError({"end": "Quiet hours must end at another time than they start."})
    unknown = sorted(set(kinds) - set(Notification.Kind.values))
    if unknown:
        raise ValidationError({"kinds": f"Unknown kind(s): {', '.join(unknown)}."})
