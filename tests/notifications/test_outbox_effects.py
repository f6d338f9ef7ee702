"""What calendar events tell learners: one outbox row per (kind, learner, subject, effective date,
channel), however often the effect runs."""

from datetime import timedelta

import pytest

from cohorts import effects, services
from notifications import effects as notification_effects
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_every_calendar_kind_writes_the_outbox():
    for kind in ("unlock", "open", "remind", "due", "close"):
        assert notification_effects.notify in effects.effects_for(kind)


@pytest.mark.parametrize(
    ("key", "kind", "subject"),
    [
        ("unlock:week-0", "unit_unlocked", "week-0"),
        ("open:p0", "window_opened", "p0"),
        ("remind:p0:1h", "reminder", "p0:1h"),
        ("due:p0", "due_passed", "p0"),
        ("close:p0", "window_closed", "p0"),
    ],
)
def test_an_effect_run_twice_writes_one_row_per_learner(make_cohort, key, kind, subject):
    cohort = make_cohort()
    event = cohort.events.get(key=key)
    # when the effect itself runs twice, past the event's done check
    notification_effects.notify(cohort, event)
    notification_effects.notify(cohort, event)
    # then the unique key leaves one row per learner
    rows = Notification.objects.filter(kind=kind, subject=subject, channel="email")
    assert sorted(rows.values_list("enrollment__email", flat=True)) == ["ada@example.com", "bob@example.com"]
    assert {row.effective_at for row in rows} == {event.at}


def test_a_moved_date_is_a_new_message(make_cohort):
    cohort = make_cohort()
    event = cohort.events.get(key="unlock:week-1")
    notification_effects.notify(cohort, event)
    services.cohort_event_move(event=event, at=event.at + timedelta(hours=2))
    event.refresh_from_db()
    notification_effects.notify(cohort, event)
    assert (
        Notification.objects.filter(
            kind="unit_unlocked", enrollment__email="ada@example.com", channel="email"
        ).count()
        == 2
    )
