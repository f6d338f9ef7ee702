"""The form learners use on /feed/preferences/: how each kind reaches them on each channel, their quiet
hours, and the daily digest. Staff set the same rows in the admin (Preferences, Quiet hours)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from cohorts.models import Enrollment
from notifications.models import Channel, Notification, Preference, QuietHours
from notifications.policy import DEFAULT_QUIET_END, DEFAULT_QUIET_KINDS, DEFAULT_QUIET_START
from notifications.preferences import preference_set, quiet_hours_set, validate_quiet_hours

Kind = Notification.Kind
Mode = Preference.Mode
# What a learner chooses per kind: every kind but the digest itself (it has its own on/off).
KINDS = [(value, label) for value, label in Kind.choices if value != Kind.DIGEST]
# The digest is an email: the feed shows a message or it does not, a chat webhook posts it or it does not.
MODES = {
    Channel.EMAIL: Mode.choices,
    Channel.CHAT: [(Mode.IMMEDIATELY, "Immediately"), (Mode.OFF, "Off")],
    Channel.INAPP: [(Mode.IMMEDIATELY, "Shown"), (Mode.OFF, "Off")],
}
CHANNEL_LABELS = {Channel.EMAIL: "Email", Channel.INAPP: "In-app feed", Channel.CHAT: "Chat"}


def channels_of(enrollment: Enrollment) -> list[str]:
    """The channels this learner can be reached on: chat only with a webhook of their own."""
    channels = [Channel.EMAIL, Channel.INAPP]
    if enrollment.chat_webhook_url:
        channels.append(Channel.CHAT)
    return channels


def field_name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class PreferencesForm(forms.Form):
    """One learner's (one enrollment's) choices; `save()` writes only what changed."""

    digest = forms.ChoiceField(label="Daily digest email", choices=[])
    quiet_on = forms.BooleanField(label="Keep quiet hours", required=False)
    quiet_start = forms.TimeField(label="Quiet hours from", widget=forms.TimeInput(format="%H:%M"))
    quiet_end = forms.TimeField(label="until", widget=forms.TimeInput(format="%H:%M"))
    quiet_kinds = forms.MultipleChoiceField(
        label="Held during quiet hours",
        choices=KINDS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args, enrollment: Enrollment, **kwargs) -> None:
        self.enrollment = enrollment
        self.channels = channels_of(enrollment)
        saved = {(p.kind, p.channel): p.mode for p in Preference.objects.filter(enrollment=enrollment)}
        quiet = QuietHours.objects.filter(enrollment=enrollment).first()
        initial = {
            "digest": saved.get((Kind.DIGEST, Channel.EMAIL), Mode.IMMEDIATELY),
            "quiet_on": quiet.enabled if quiet else True,
            "quiet_start": quiet.start if quiet else DEFAULT_QUIET_START,
            "quiet_end": quiet.end if quiet else DEFAULT_QUIET_END,
            # A row with no kinds (set by staff) holds every kind: shown as every box checked.
            "quiet_kinds": (quiet.kinds or [k for k, _ in KINDS]) if quiet else list(DEFAULT_QUIET_KINDS),
        }
        for kind, _ in KINDS:
            for channel in self.channels:
                initial[field_name(kind, channel)] = saved.get((kind, channel), Mode.IMMEDIATELY)
        super().__init__(*args, initial=initial, **kwargs)
        self.digest_hour = f"{settings.NEXUS_DIGEST_LOCAL_HOUR:02d}:00"
        self.fields["digest"].choices = [
            (Mode.IMMEDIATELY, f"On: one email at {self.digest_hour} with what was held"),
            (Mode.OFF, "Off"),
        ]
        for kind, label in KINDS:
            for channel in self.channels:
                name = f"{label} by {CHANNEL_LABELS[channel].lower()}"
                self.fields[field_name(kind, channel)] = forms.ChoiceField(
                    label=name, choices=MODES[channel], widget=forms.Select(attrs={"aria-label": name})
                )
        self.order_fields([field_name(k, c) for k, _ in KINDS for c in self.channels])

    def rows(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The grid the page shows: a row per kind, a select per channel."""
        return [(label, [self[field_name(kind, c)] for c in self.channels]) for kind, label in KINDS]

    def channel_labels(self) -> list[str]:
        return [CHANNEL_LABELS[c] for c in self.channels]

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("quiet_start"), data.get("quiet_end")
        if data.get("quiet_on") and start is not None and end is not None:
            try:
                validate_quiet_hours(start=start, end=end, kinds=data.get("quiet_kinds") or [])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error("quiet_end" if field == "end" else "quiet_kinds", errors)
        if data.get("digest") == Mode.OFF:
            waiting = [
                label
                for kind, label in KINDS
                for channel in self.channels
                if data.get(field_name(kind, channel)) == Mode.DIGEST
            ]
            if waiting:
                self.add_error(
                    "digest",
                    f"{', '.join(dict.fromkeys(waiting))}: set to come in the daily digest, which would then never "
                    "be sent. Keep the digest on, or choose another way for them.",
                )
        if data.get("quiet_on") and "quiet_kinds" in data and not data["quiet_kinds"]:
            self.add_error(
                "quiet_kinds", "Tick the kinds quiet hours hold back, or untick \u201cKeep quiet hours\u201d."
            )
        return data

    @transaction.atomic
    def save(self) -> int:
        """Write the changed choices, all or none; the number of settings changed."""
        changed = 0
        data = self.cleaned_data
        wanted = {(Kind.DIGEST, Channel.EMAIL): data["digest"]}
        for kind, _ in KINDS:
            for channel in self.channels:
                wanted[(kind, channel)] = data[field_name(kind, channel)]
        for (kind, channel), mode in wanted.items():
            field = "digest" if kind == Kind.DIGEST else field_name(kind, channel)
            if field in self.changed_data:
                preference_set(enrollment_id=self.enrollment.pk, kind=kind, channel=channel, mode=mode)
                changed += 1
        if {"quiet_on", "quiet_start", "quiet_end", "quiet_kinds"} & set(self.changed_data):
            # The kinds ticked, as they are: an empty list would mean every kind, the digest included.
            quiet_hours_set(
                enrollment_id=self.enrollment.pk,
                start=data["quiet_start"],
                end=data["quiet_end"],
                kinds=list(data["quiet_kinds"]),
                enabled=data["quiet_on"],
            )
            changed += 1
        return changed
