"""Admin for cohorts, split by page: saving goes through the services, so Beat follows every edit."""

from cohorts.admin import beat, cohort, events, learners  # noqa: F401 - registers the pages
