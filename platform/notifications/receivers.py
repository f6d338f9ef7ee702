"""What notifications does when other apps signal: staff changed learners' dates or granted an extension,
an override was saved (forget the cached ones)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from cohorts.signals import dates_changed, extension_granted
from notifications.dates import date_changes_notify, extension_granted_notify
from notifications.models import TemplateOverride
from notifications.overrides import overrides_changed


@receiver(dates_changed, dispatch_uid="notifications.dates_changed")
def on_dates_changed(sender, *, cohort, changes, **kwargs) -> None:
    date_changes_notify(cohort=cohort, changes=changes)


@receiver(extension_granted, dispatch_uid="notifications.extension_granted")
def on_extension_granted(sender, *, cohort, extension, enrollment_ids, **kwargs) -> None:
    extension_granted_notify(cohort=cohort, extension=extension, enrollment_ids=enrollment_ids)


@receiver(post_save, sender=TemplateOverride, dispatch_uid="notifications.override_saved")
@receiver(post_delete, sender=TemplateOverride, dispatch_uid="notifications.override_deleted")
def on_override_changed(sender, **kwargs) -> None:
    overrides_changed()
