"""Cohorts: a program run from a start date in a time zone, its learners, anchors, extensions and calendar."""
