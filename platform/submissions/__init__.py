"""Submissions: window state per cohort and project, and what learners hand in."""
