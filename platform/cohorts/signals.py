"""Signals other apps listen to (cohorts may not import them): learners' dates changed, an extension granted.

Both are sent inside the transaction that makes the change, not on commit: a receiver writes outbox rows
(the transactional outbox), so a message exists exactly when the change it tells of was committed, and
none is lost to a crash between the commit and an on-commit callback. Receivers therefore must not do
slow or outside work (no sending); they write rows that the sender delivers after commit.
"""

from django.dispatch import Signal

# sender=Cohort; cohort: Cohort; changes: dict[enrollment id, list[cohorts.changes.DateChange]].
# Only dates a learner acts on (unlock, open, due, close) and only learners enrolled before the change.
dates_changed = Signal()

# sender=Cohort; cohort: Cohort; extension: Extension; enrollment_ids: list[int] (the learner, or the
# group's learners at the time of the grant).
extension_granted = Signal()
