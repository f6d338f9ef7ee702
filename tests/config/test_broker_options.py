"""The worker's broker options that let it ride out a Redis restart (#10)."""

from config.celery import app


def test_a_worker_never_gives_up_reconnecting_to_the_broker():
    # None: retry forever (Celery's default, 100 attempts, makes a long outage end the worker)
    assert app.conf.broker_connection_max_retries is None


def test_a_task_running_when_the_broker_drops_runs_to_its_end():
    # explicit, because Celery 6 flips the default; the effects are keyed, so a rerun changes nothing
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False
