"""Carrying out calendar events exactly once: unlocks, windows, reminders, extensions, the reconciler."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from cohorts import effects, reconcile, services
from cohorts.models import Release
from notifications.models import Notification
from submissions.models import Submission, WindowTransition
from submissions.services import SubmissionRefused, submission_create

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def fire(cohort, key, now=None):
    event = cohort.events.get(key=key)
    return effects.calendar_event_fire(cohort_id=cohort.pk, key=key, now=now or event.fire_at).status


def submit(cohort, email, project_key, now, sha="a" * 40):
    enrollment = cohort.enrollments.get(email=email)
    project = cohort.program.projects.get(key=project_key)
    return submission_create(
        enrollment=enrollment,
        project=project,
        commit_sha=sha,
        repository_url=f"https://github.com/{email.split('@')[0]}/{project_key}",
        now=now,
    )


def test_an_unlock_releases_the_unit_once_and_tells_each_learner_once(make_cohort):
    cohort = make_cohort()
    # when the unlock runs twice (a retry, a second Beat, the reconciler)
    assert fire(cohort, "unlock:week-0") == "done"
    assert fire(cohort, "unlock:week-0") == "already"
    # then one release and one outbox row per learner
    assert Release.objects.filter(cohort=cohort, unit__key="week-0").count() == 1
    rows = Notification.objects.filter(channel="email", kind="unit_unlocked", subject="week-0")
    assert sorted(rows.values_list("enrollment__email", flat=True)) == ["ada@example.com", "bob@example.com"]
    assert {r.effective_at for r in rows} == {utc(2027, 1, 4, 8, 0)}
    assert cohort.events.get(key="unlock:week-0").done_at is not None


def test_an_event_fired_early_by_a_stale_entry_does_nothing(make_cohort):
    cohort = make_cohort()
    assert fire(cohort, "unlock:week-1", now=utc(2027, 1, 4, 8, 0)) == "early"
    assert not Release.objects.exists()


def test_a_paused_cohort_carries_out_nothing(make_cohort):
    cohort = make_cohort()
    services.cohort_pause(cohort=cohort)
    assert fire(cohort, "unlock:week-0") == "inactive"
    assert not Release.objects.exists()


def test_submissions_only_inside_the_open_window_late_after_grace_refused_after_cutoff(make_cohort):
    cohort = make_cohort()
    # before the window opened: refused, nothing stored
    with pytest.raises(SubmissionRefused, match="not open yet"):
        submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 4, 7, 0))
    fire(cohort, "open:p0")
    # inside the window: accepted, on time
    on_time = submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 6, 12, 0))
    assert on_time.late is False
    # after due (Fri 16:00Z) but inside the 2 h grace: still on time
    assert submit(cohort, "bob@example.com", "p0", now=utc(2027, 1, 8, 17, 30), sha="b" * 40).late is False
    # after due + grace: late
    assert submit(cohort, "bob@example.com", "p0", now=utc(2027, 1, 8, 18, 1), sha="c" * 40).late is True
    # at the cut-off: refused with a clear error, nothing stored
    with pytest.raises(
        SubmissionRefused, match=r"closed at its cut-off 2027-01-11 09:00 WAT \(Africa/Lagos\)"
    ):
        submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 11, 8, 0), sha="d" * 40)
    assert Submission.objects.count() == 3


def test_a_malformed_submission_names_the_field(make_cohort):
    cohort = make_cohort()
    fire(cohort, "open:p0")
    with pytest.raises(ValidationError) as error:
        submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 5), sha="not-a-sha")
    assert "commit_sha" in error.value.message_dict


def test_reminders_go_only_to_learners_who_have_not_submitted(make_cohort):
    cohort = make_cohort()
    fire(cohort, "open:p0")
    submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 5))
    fire(cohort, "remind:p0:1d")
    fire(cohort, "remind:p0:1d")
    reminded = Notification.objects.filter(channel="email", kind="reminder", subject="p0:1d")
    assert list(reminded.values_list("enrollment__email", flat=True)) == ["bob@example.com"]


def test_a_window_transition_is_recorded_once(make_cohort):
    cohort = make_cohort()
    for _ in range(3):
        fire(cohort, "close:p0")
    assert WindowTransition.objects.filter(cohort=cohort, kind="close", enrollment=None).count() == 1
    assert Notification.objects.filter(channel="email", kind="window_closed").count() == 2


def test_an_extension_moves_that_learners_reminders_and_window(make_cohort):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    bob = cohort.enrollments.get(email="bob@example.com")
    # when bob gets three more days
    services.extension_grant(
        cohort=cohort,
        project=project,
        enrollment=bob,
        reason="illness",
        due_at=utc(2027, 1, 11, 16, 0),
        cutoff_at=utc(2027, 1, 14, 8, 0),
    )
    # then he has his own reminders, due and close in the calendar (and in Beat)
    own = set(cohort.events.filter(enrollment=bob).values_list("key", flat=True))
    assert own == {
        f"remind:p0:1d@{bob.pk}",
        f"remind:p0:1h@{bob.pk}",
        f"due:p0@{bob.pk}",
        f"close:p0@{bob.pk}",
    }
    assert cohort.events.get(key=f"remind:p0:1h@{bob.pk}").at == utc(2027, 1, 11, 15, 0)
    # the cohort's reminder skips him; his own reaches only him
    fire(cohort, "open:p0")
    fire(cohort, "remind:p0:1h")
    reminded = Notification.objects.filter(channel="email", kind="reminder", subject="p0:1h")
    assert list(reminded.values_list("enrollment__email", flat=True)) == ["ada@example.com"]
    fire(cohort, f"remind:p0:1h@{bob.pk}")
    assert (
        Notification.objects.filter(channel="email", kind="reminder", subject="p0:1h", enrollment=bob).count()
        == 1
    )
    # after the cohort's cut-off ada is refused; bob is on time before his due (+ grace), late after
    with pytest.raises(SubmissionRefused):
        submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 11, 12, 0))
    assert submit(cohort, "bob@example.com", "p0", now=utc(2027, 1, 11, 12, 0)).late is False
    assert submit(cohort, "bob@example.com", "p0", now=utc(2027, 1, 13, 9, 0), sha="e" * 40).late is True
    with pytest.raises(SubmissionRefused):
        submit(cohort, "bob@example.com", "p0", now=utc(2027, 1, 14, 8, 0), sha="f" * 40)


def test_the_most_lenient_extension_wins_for_a_learner_and_group(make_cohort):
    cohort = make_cohort(learners=())
    enrollment = services.enrollment_create(cohort=cohort, email="cy@example.com", group="blue")
    project = cohort.program.projects.get(key="p0")
    services.extension_grant(
        cohort=cohort,
        project=project,
        group="blue",
        reason="team outage",
        due_at=utc(2027, 1, 12, 16, 0),
        cutoff_at=utc(2027, 1, 15, 8, 0),
    )
    services.extension_grant(
        cohort=cohort,
        project=project,
        enrollment=enrollment,
        reason="illness",
        due_at=utc(2027, 1, 10, 16, 0),
        cutoff_at=utc(2027, 1, 16, 8, 0),
    )
    assert cohort.events.get(key=f"due:p0@{enrollment.pk}").at == utc(2027, 1, 12, 16, 0)
    assert cohort.events.get(key=f"close:p0@{enrollment.pk}").at == utc(2027, 1, 16, 8, 0)


def test_an_extension_must_be_later_and_give_a_reason(make_cohort):
    cohort = make_cohort()
    project = cohort.program.projects.get(key="p0")
    ada = cohort.enrollments.get(email="ada@example.com")
    with pytest.raises(ValidationError) as error:
        services.extension_grant(
            cohort=cohort,
            project=project,
            enrollment=ada,
            reason="x",
            due_at=utc(2027, 1, 12),
            cutoff_at=utc(2027, 1, 11),
        )
    assert "due_at" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.extension_grant(
            cohort=cohort,
            project=project,
            enrollment=ada,
            reason="  ",
            due_at=utc(2027, 1, 12),
            cutoff_at=utc(2027, 1, 13),
        )
    assert "reason" in error.value.message_dict


def test_the_reconciler_carries_out_due_events_once_in_due_order(make_cohort):
    cohort = make_cohort()
    paused = make_cohort(name="Paused", learners=())
    services.cohort_pause(cohort=paused)
    # when the reconciler runs at the end of week 0 (Beat was down all week)
    outcomes = reconcile.calendar_reconcile(now=utc(2027, 1, 9, 0, 0))
    # then the week's events ran once, in due order, and the paused cohort's did not; the reminders,
    # whose due had passed by the time they could run, were skipped rather than sent late
    assert [(o.key, o.status) for o in outcomes] == [
        ("unlock:week-0", "done"),
        ("open:p0", "done"),
        ("remind:p0:1d", "skipped"),
        ("remind:p0:1h", "skipped"),
        ("due:p0", "done"),
    ]
    assert not Notification.objects.filter(channel="email", kind="reminder").exists()
    assert reconcile.calendar_reconcile(now=utc(2027, 1, 9, 0, 0)) == []
    assert not paused.events.filter(done_at__isnull=False).exists()
    cohort.refresh_from_db()
    assert cohort.status == "running"


def test_a_program_file_cannot_silently_delete_what_learners_did(make_cohort, small_program):
    import copy

    from programs.services import ProgramFileError, program_load
    from tests.cohorts.conftest import SMALL_PROGRAM

    cohort = make_cohort()
    fire(cohort, "unlock:week-0")
    fire(cohort, "open:p0")
    submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 5))
    # when a new version of the file drops week-0 and its project p0
    edited = copy.deepcopy(SMALL_PROGRAM)
    edited["units"] = edited["units"][1:]
    with pytest.raises(ProgramFileError) as error:
        program_load(data=edited, source="small.yaml")
    # then the load is refused, naming both, and nothing is lost
    message = str(error.value)
    assert "project 'p0': removed from the file, but cohorts have used it (1 submission(s)" in message
    assert "unit 'week-0': removed from the file, but 1 cohort(s) have it released" in message
    assert Submission.objects.count() == 1
    assert Release.objects.count() == 1


def test_one_broken_event_holds_back_only_its_own_cohort_until_given_up(make_cohort, small_program):
    import copy

    from programs.services import program_load
    from tests.cohorts.conftest import SMALL_PROGRAM

    cohort = make_cohort()
    other_program = program_load(
        data={**copy.deepcopy(SMALL_PROGRAM), "slug": "other"}, source="o.yaml"
    ).program
    other = make_cohort(name="Other", learners=(), program=other_program)
    # given a unit renamed behind the calendar's back (no re-sync): its unlock cannot be carried out
    small_program.units.filter(key="week-0").update(key="renamed")
    outcomes = reconcile.calendar_reconcile(now=utc(2027, 1, 5, 0, 0))
    by_key = {(o.key, o.status) for o in outcomes}
    # then the stale unlock failed and its cohort's later events wait behind it (due order) ...
    assert ("unlock:week-0", "failed") in by_key
    broken = cohort.events.get(key="unlock:week-0")
    assert broken.done_at is None
    assert broken.attempts == 1
    assert "DoesNotExist" in broken.last_error
    assert cohort.events.get(key="open:p0").done_at is None
    # ... while the other cohort was not held back
    assert other.events.get(key="open:p0").done_at is not None
    # and once it has failed MAX_ATTEMPTS times it is given up, and the cohort goes on
    for day in range(effects.MAX_ATTEMPTS):  # each run after the previous failure's backoff
        reconcile.calendar_reconcile(now=utc(2027, 1, 6 + day, 0, 0))
    broken.refresh_from_db()
    assert broken.outcome == "failed"
    assert broken.done_at is not None
    assert cohort.events.get(key="open:p0").outcome == "done"


def test_an_extension_for_another_programs_project_or_cohorts_learner_is_refused(make_cohort, small_program):
    from programs.services import program_load

    cohort = make_cohort()
    stranger = make_cohort(name="Other cohort", learners=("eve@example.com",)).enrollments.get()
    foreign = program_load(
        data={
            "slug": "f",
            "name": "F",
            "units": [
                {
                    "key": "u",
                    "title": "U",
                    "unlock": "day 0 09:00",
                    "projects": [
                        {
                            "key": "fp",
                            "title": "FP",
                            "opens": "day 0 09:00",
                            "due": "day 1 09:00",
                            "cutoff": "day 2 09:00",
                        }
                    ],
                }
            ],
        },
        source="f.yaml",
    ).program.projects.get()
    with pytest.raises(ValidationError) as error:
        services.extension_grant(
            cohort=cohort,
            project=foreign,
            group="x",
            reason="r",
            due_at=utc(2027, 1, 12),
            cutoff_at=utc(2027, 1, 13),
        )
    assert "project" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.extension_grant(
            cohort=cohort,
            project=cohort.program.projects.get(key="p0"),
            enrollment=stranger,
            reason="r",
            due_at=utc(2027, 1, 12),
            cutoff_at=utc(2027, 1, 13),
        )
    assert "enrollment" in error.value.message_dict


def test_the_same_commit_twice_is_a_clear_refusal(make_cohort):
    cohort = make_cohort()
    fire(cohort, "open:p0")
    submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 5))
    with pytest.raises(SubmissionRefused, match="aaaaaaa is already submitted for 'p0'"):
        submit(cohort, "ada@example.com", "p0", now=utc(2027, 1, 6))
    assert Submission.objects.count() == 1


def test_a_release_run_twice_is_one_row(make_cohort):
    cohort = make_cohort()
    event = cohort.events.get(key="unlock:week-0")
    effects.release_unit(cohort, event)
    effects.release_unit(cohort, event)
    assert Release.objects.filter(cohort=cohort, unit__key="week-0").count() == 1
