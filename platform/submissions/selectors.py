"""Submission reads: a learner's effective window (staff moves and extensions applied)."""

from __future__ import annotations

from cohorts.calendar import Window, cohort_window, overrides_of
from cohorts.keys import EventKey
from cohorts.models import CohortEvent, Enrollment
from programs.models import Project
from submissions.models import Submission

Kind = CohortEvent.Kind


def window_for(*, enrollment: Enrollment, project: Project) -> Window:
    """The window that applies to this learner: the most lenient of the cohort's effective window and
    their extensions, as their own events carry it (staff may have moved those too)."""
    cohort = enrollment.cohort
    base = cohort_window(cohort, project, overrides_of(cohort))
    own = {kind: str(EventKey(kind, project.key, None, enrollment.pk)) for kind in (Kind.DUE, Kind.CLOSE)}
    at = {
        e.key: e.at
        for e in CohortEvent.objects.filter(cohort=cohort, program_id=cohort.program_id, key__in=own.values())
    }
    return Window(
        opens=base.opens,
        due=at.get(own[Kind.DUE], base.due),
        cutoff=at.get(own[Kind.CLOSE], base.cutoff),
        grace=base.grace,
    )


def submitted_learners(*, project: Project, enrollment_ids: list[int]) -> set[int]:
    """Which of these learners have handed in something for the project."""
    return set(
        Submission.objects.filter(project=project, enrollment_id__in=enrollment_ids).values_list(
            "enrollment_id", flat=True
        )
    )
