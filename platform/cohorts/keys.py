"""EventKey: the calendar's `kind:subject[:offset][@enrollment]` key, built and parsed in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cohorts.models import CohortEvent

Kind = CohortEvent.Kind

_KEY = re.compile(
    r"(?P<kind>[a-z]+):(?P<subject>[a-z0-9][a-z0-9-]*)(?::(?P<offset>[0-9dhm]+))?(?:@(?P<enrollment>[0-9]+))?"
)


class EventKeyError(ValueError):
    """Text that is not a calendar event key."""


@dataclass(frozen=True, order=True)
class EventKey:
    """Which effect an event is: its kind, the unit or project it is about, a reminder's offset before
    due (canonical duration text), and the learner it is for when it is theirs alone (an extension)."""

    kind: Kind
    subject: str
    offset: str | None = None
    enrollment_id: int | None = None

    def __post_init__(self) -> None:
        if (self.kind == Kind.REMIND) != (self.offset is not None):
            raise EventKeyError(
                f"a reminder and only a reminder has an offset ({self.kind}, {self.offset!r})"
            )

    def __str__(self) -> str:
        text = f"{self.kind}:{self.subject}"
        if self.offset is not None:
            text += f":{self.offset}"
        if self.enrollment_id is not None:
            text += f"@{self.enrollment_id}"
        return text

    @property
    def topic(self) -> str:
        """What a notification of this event is about: the subject, with a reminder's offset."""
        return self.subject if self.offset is None else f"{self.subject}:{self.offset}"

    def for_cohort(self) -> EventKey:
        """The cohort-wide event this learner's own event stands in for."""
        return EventKey(self.kind, self.subject, self.offset)

    def for_learner(self, enrollment_id: int | None) -> EventKey:
        return EventKey(self.kind, self.subject, self.offset, enrollment_id)

    @classmethod
    def parse(cls, text: str) -> EventKey:
        match = _KEY.fullmatch(text or "")
        if match is None:
            raise EventKeyError(f"{text!r} is not an event key (kind:subject[:offset][@learner])")
        try:
            kind = Kind(match["kind"])
        except ValueError:
            raise EventKeyError(f"{text!r}: unknown kind {match['kind']!r}") from None
        enrollment = match["enrollment"]
        return cls(kind, match["subject"], match["offset"], int(enrollment) if enrollment else None)
