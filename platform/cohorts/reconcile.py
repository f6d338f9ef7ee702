"""The safety net: whatever the calendar says should have happened by now, and has not, happens now."""

from __future__ import annotations

import logging
from datetime import datetime

from celery.exceptions import SoftTimeLimitExceeded
from django.db.models import F, Min

from cohorts.effects import FireOutcome, FireStatus, cohort_calendar_advance
from cohorts.models import Cohort, CohortEvent
from core import clock

logger = logging.getLogger("nexus.calendar")


def calendar_reconcile(*, now: datetime | None = None, limit: int = 500) -> list[FireOutcome]:
    """Advance every active cohort that has an event due but not done, oldest first, each in its own
    transaction and in due order within it.

    An event whose effect keeps failing waits for its retry time (and is excluded from the due list
    until then), so a head of broken events never starves the events due after them in other cohorts.
    """
    now = now or clock.now()
    # A cohort whose next event failed waits for its retry time (its later events wait behind it).
    waiting = CohortEvent.objects.filter(done_at__isnull=True, retry_at__gt=now).values("cohort_id")
    cohorts = list(
        CohortEvent.objects.filter(
            done_at__isnull=True,
            fire_at__lte=now,
            program_id=F("cohort__program_id"),
            cohort__status__in=[Cohort.Status.SCHEDULED, Cohort.Status.RUNNING],
        )
        .exclude(cohort_id__in=waiting)
        .values("cohort_id")
        .annotate(first=Min("fire_at"))
        .order_by("first", "cohort_id")
        .values_list("cohort_id", flat=True)[:limit]
    )
    outcomes: list[FireOutcome] = []
    for cohort_id in cohorts:
        try:
            outcomes.extend(cohort_calendar_advance(cohort_id=cohort_id, now=now))
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: stop now, the next run goes on
        except Exception:
            # One broken cohort (a bug, a lock timeout, a query the database refuses) must not hold back
            # every other cohort; its events stay due and the next run tries them again.
            logger.exception("reconciler could not advance cohort %s; going on", cohort_id)
    done = sum(o.status == FireStatus.DONE for o in outcomes)
    if outcomes:
        logger.info("reconciler carried out %d due event(s) in %d cohort(s)", done, len(cohorts))
    return outcomes
