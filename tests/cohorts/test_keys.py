"""EventKey: the calendar's key type, built and parsed in one place."""

import pytest

from cohorts.keys import EventKey, EventKeyError
from cohorts.models import CohortEvent

Kind = CohortEvent.Kind


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("unlock:week-00", EventKey(Kind.UNLOCK, "week-00")),
        ("remind:airbnb-db:1d", EventKey(Kind.REMIND, "airbnb-db", "1d")),
        ("remind:airbnb-db:1d12h@42", EventKey(Kind.REMIND, "airbnb-db", "1d12h", 42)),
        ("close:p0@7", EventKey(Kind.CLOSE, "p0", None, 7)),
    ],
)
def test_keys_round_trip(text, key):
    assert EventKey.parse(text) == key
    assert str(key) == text


def test_a_reminder_topic_carries_its_offset_and_a_learners_key_maps_to_the_cohorts():
    key = EventKey.parse("remind:p0:1h@3")
    assert key.topic == "p0:1h"
    assert str(key.for_cohort()) == "remind:p0:1h"


@pytest.mark.parametrize("text", ["", "unlock", "nope:p0", "remind:p0", "due:p0:1d", "open:P0", "open:p0@x"])
def test_bad_keys_are_refused(text):
    with pytest.raises(EventKeyError):
        EventKey.parse(text)
