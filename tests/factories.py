"""factory_boy factories for the domain models: plain rows, no Beat sync (use cohorts.services for that)."""

from __future__ import annotations

from datetime import date, timedelta

import factory
from django.contrib.auth import get_user_model

from cohorts.models import Cohort, Enrollment
from programs.models import ContentItem, Program, Project, Unit

__all__ = [
    "CohortFactory",
    "ContentItemFactory",
    "EnrollmentFactory",
    "ProgramFactory",
    "ProjectFactory",
    "UnitFactory",
    "UserFactory",
]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"learner{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("learner-password")


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    slug = factory.Sequence(lambda n: f"program-{n}")
    name = factory.Sequence(lambda n: f"Program {n}")
    description = ""
    timezone_hint = "Africa/Lagos"
    anchors = factory.LazyFunction(list)
    default_reminders = factory.LazyFunction(lambda: ["1d", "1h"])


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    program = factory.SubFactory(ProgramFactory)
    key = factory.Sequence(lambda n: f"week-{n:02d}")
    position = factory.Sequence(lambda n: n)
    title = factory.LazyAttribute(lambda o: f"Unit {o.key}")
    unlock = "week 0 mon 09:00"


class ContentItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContentItem

    unit = factory.SubFactory(UnitFactory)
    key = factory.Sequence(lambda n: f"item-{n}")
    position = factory.Sequence(lambda n: n)
    title = factory.LazyAttribute(lambda o: f"Reading {o.key}")
    body = ""


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    # The project's program follows its unit's, so the two never disagree.
    unit = factory.SubFactory(UnitFactory)
    program = factory.SelfAttribute("unit.program")
    key = factory.Sequence(lambda n: f"project-{n}")
    position = factory.Sequence(lambda n: n)
    title = factory.LazyAttribute(lambda o: f"Project {o.key}")
    description = ""
    opens = "week 0 mon 09:00"
    due = "week 0 fri 17:00"
    cutoff = "week 1 mon 09:00"
    grace = timedelta(hours=2)
    reminders = None  # the program's defaults


class CohortFactory(factory.django.DjangoModelFactory):
    """A cohort row only: its calendar is not computed and Beat is not touched (cohort_create does that)."""

    class Meta:
        model = Cohort

    program = factory.SubFactory(ProgramFactory)
    name = factory.Sequence(lambda n: f"Cohort {n}")
    # A Monday, five weeks after tests.conftest.PINNED_NOW: a test that syncs this cohort's calendar
    # pins the clock (pinned_now) so its events are still ahead whatever today's date is.
    start_date = date(2027, 1, 4)
    timezone = "Africa/Lagos"
    anchors = factory.LazyFunction(dict)


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    cohort = factory.SubFactory(CohortFactory)
    user = factory.SubFactory(UserFactory)
    email = factory.SelfAttribute("user.email")
    timezone = ""
    github_login = ""
    group = ""
