"""GitHub REST tasks (github queue): poll CI that is not final, redeliver failed hooks, create learners' repositories."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from core import clock
from notifications.models import Notification
from notifications.services import outbox_write
from submissions import grading, polling, repositories
from tasks.notifications import sweep as notifications_sweep
from tasks.policy import IDEMPOTENT
from webhooks import client as github
from webhooks.redelivery import deliveries_to_redeliver

logger = logging.getLogger("nexus.github")

# GitHub's own errors are handled inside each task (rate limits stop the run and the next Beat tick
# resumes it; transient failures are counted on the row); the task retries only for the database.
RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 3,
}


def _off(reason: str) -> dict:
    return {"status": "off", "reason": reason}


@shared_task(name="nexus.github.poll_ci", **IDEMPOTENT, **RETRY, soft_time_limit=240, time_limit=300)
def poll_ci() -> dict:
    """Poll the CI of every commit whose status is not final and still matters, so statuses are right
    even when webhooks were lost; then tell learners whose graded commit's CI became final."""
    if not github.configured():
        return {**_off("GITHUB_TOKEN is not set"), "told": ci_tell()}
    commits = polling.commits_to_poll(after_cutoff=timedelta(seconds=settings.NEXUS_GITHUB_POLL_AFTER_CUTOFF))
    api = github.client()
    result: dict = {"status": "done", "commits": len(commits), "polled": 0, "errors": 0}
    try:
        answers = api.map(lambda c: api.commit_checks(c.repository, c.sha), commits)
    except github.PartialRateLimited as limited:
        answers = limited.done
        result.update(status="rate_limited", until=limited.until.isoformat())
        logger.warning("CI poll stopped by GitHub's rate limit until %s", limited.until.isoformat())
    now = clock.now()
    for commit, answer in answers:
        if isinstance(answer, github.GitHubError):
            result["errors"] += 1
            logger.warning("CI poll of %s@%s failed: %s", commit.repository, commit.sha[:7], answer)
            continue
        combined, runs = answer
        polling.commit_answers_record(
            commit=commit, combined_status=combined, check_runs=runs, received_at=now
        )
        result["polled"] += 1
    result["told"] = ci_tell()
    return result


def ci_tell() -> int:
    """Tell each learner once when their graded commit's CI became final (passed or failed).

    The submission is marked told and the outbox row written in one transaction; delivery follows
    after commit. Called by the CI sweep; the webhook path may call it too after a status change.
    """
    with transaction.atomic():
        results = grading.graded_ci_untold()
        for result in results:
            outbox_write(
                kind=Notification.Kind.CI_PASSED
                if result.status == "success"
                else Notification.Kind.CI_FAILED,
                cohort_id=result.cohort_id,
                enrollment_ids=[result.enrollment_id],
                subject=result.project_key,
                effective_at=result.graded_at,
                payload={
                    "title": result.project_title,
                    "repository": result.repository,
                    "url": result.url,
                    "sha": result.sha,
                    "status": result.ci_status,
                },
            )
        if results:
            notifications_sweep.delay_on_commit()
    return len(results)


@shared_task(name="nexus.github.redeliver", **IDEMPOTENT, **RETRY, soft_time_limit=120, time_limit=180)
def redeliver() -> dict:
    """Ask GitHub to redeliver the hook's recent deliveries that failed and that we never stored
    (GitHub itself never retries a failed delivery)."""
    if not (settings.GITHUB_HOOK_ID and settings.GITHUB_HOOK_OWNER):
        return _off("GITHUB_HOOK_ID and GITHUB_HOOK_OWNER are not set")
    if not github.configured():
        return _off("GITHUB_TOKEN is not set")
    api = github.client()
    hook = github.Hook(settings.GITHUB_HOOK_OWNER, settings.GITHUB_HOOK_ID)
    try:
        listed = api.hook_deliveries(hook)
    except github.RateLimited as limited:
        return {"status": "rate_limited", "until": limited.until.isoformat(), "redelivered": []}
    except github.GitHubError as exc:
        logger.warning("listing the hook's deliveries failed: %s", exc)
        return {"status": "error", "error": str(exc), "redelivered": []}
    wanted = deliveries_to_redeliver(listed)
    asked = []
    for delivery in wanted:
        try:
            api.redeliver(hook, delivery["id"])
        except github.RateLimited as limited:
            return {"status": "rate_limited", "until": limited.until.isoformat(), "redelivered": asked}
        except github.GitHubError as exc:
            logger.warning("redelivery of %s failed: %s", delivery.get("guid"), exc)
            continue
        asked.append(delivery["guid"])
    return {"status": "done", "listed": len(listed), "redelivered": asked}


@shared_task(name="nexus.github.provision", **IDEMPOTENT, **RETRY, soft_time_limit=240, time_limit=300)
def provision(repository_ids: list[int] | None = None) -> dict:
    """Create learners' repositories from their project's template and add them as collaborators.

    Idempotent: a repository that already exists (a run that died after creating it, or one made by
    hand) is adopted, never duplicated; a ready row is left alone. A rate limit stops the run; the rows
    left stay pending for the next one.
    """
    if not github.configured():
        return _off("GITHUB_TOKEN is not set")
    if repository_ids is None:
        repositories.repositories_plan_open()  # learners who enrolled after their window opened
        repository_ids = repositories.repositories_to_provision()
    ids = repository_ids
    api = github.client()
    result: dict = {"status": "done", "ready": [], "failed": [], "skipped": []}
    for repository_id in ids:
        plan = repositories.repository_claim(repository_id=repository_id)
        if plan is None:
            result["skipped"].append(repository_id)
            continue
        try:
            try:
                data = api.generate(plan.template, owner=plan.owner, name=plan.name, private=True)
            except github.AlreadyExists:
                data = api.repository(plan.full_name)  # adopt it
            api.add_collaborator(plan.full_name, plan.login)
        except github.RateLimited as limited:
            result.update(status="rate_limited", until=limited.until.isoformat())
            break
        except github.Unauthorized as exc:
            # The token, not this learner's repository: leave every row as it is for the next run.
            logger.error("GitHub refused the token; provisioning stopped: %s", exc)
            result.update(status="unauthorized", error=str(exc))
            break
        except github.GitHubError as exc:
            repositories.repository_failed(
                repository_id=repository_id, error=str(exc), transient=isinstance(exc, github.Transient)
            )
            result["failed"].append(repository_id)
            continue
        _ready(plan, data)
        result["ready"].append(repository_id)
    return result


def _ready(plan: repositories.Provision, data: dict) -> None:
    with transaction.atomic():
        row = repositories.repository_ready(
            repository_id=plan.repository_id,
            full_name=data.get("full_name") or plan.full_name,
            html_url=data.get("html_url", ""),
            default_branch=data.get("default_branch", "main"),
        )
        if row is None:
            return  # another run recorded it first and told the learner
        outbox_write(
            kind=Notification.Kind.REPOSITORY_READY,
            cohort_id=row.enrollment.cohort_id,
            enrollment_ids=[row.enrollment_id],
            subject=row.project.key,
            effective_at=row.created_at,
            payload={"title": row.project.title, "repository": row.full_name, "url": row.html_url},
        )
        notifications_sweep.delay_on_commit()
