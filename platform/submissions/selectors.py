"""Submission reads: a learner's effective window (overrides and extensions applied)."""

from __future__ import annotations

from cohorts.calendar import Window, template_window
from cohorts.models import CohortEvent, Enrollment
from programs.models import Project


def window_for(*, enrollment: Enrollment, project: Project) -> Window:
    """The window that applies to this learner: their own events if extended, else the cohort's."""
    cohort = enrollment.cohort
    base = template_window(cohort, project)
    keys = {
        f"open:{project.key}",
        f"due:{project.key}",
        f"close:{project.key}",
        f"due:{project.key}@{enrollment.pk}",
        f"close:{project.key}@{enrollment.pk}",
    }
    at = {e.key: e.at for e in CohortEvent.objects.filter(cohort=cohort, key__in=keys)}
    own = f"@{enrollment.pk}"
    return Window(
        opens=at.get(f"open:{project.key}", base.opens),
        due=at.get(f"due:{project.key}{own}") or at.get(f"due:{project.key}", base.due),
        cutoff=at.get(f"close:{project.key}{own}") or at.get(f"close:{project.key}", base.cutoff),
        grace=base.grace,
    )
