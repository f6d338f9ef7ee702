"""GitHub events to handlers, in one table (Zulip's shape): handled, ignored on purpose, or unsupported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from submissions.github import check_record, normalize_state, push_record
from submissions.models import CommitCheck
from webhooks.models import Delivery
from webhooks.services import hook_verify

Handler = Callable[[Delivery], None]


def _time(value: Any, default: datetime) -> datetime:
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else default
    return default


def _obj(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _repository(delivery: Delivery) -> str:
    return delivery.repository or str(_obj(delivery.payload, "repository").get("full_name") or "")


def handle_ping(delivery: Delivery) -> None:
    payload = delivery.payload
    hook = _obj(payload, "hook")
    hook_id = payload.get("hook_id") or hook.get("id") or delivery.hook_id
    target = _repository(delivery) or str(_obj(payload, "organization").get("login") or "")
    hook_verify(
        hook_id=int(hook_id),
        kind=str(hook.get("type") or ""),
        target=target,
        events=[str(e) for e in hook.get("events") or []],
        verified_at=delivery.received_at,
    )


def handle_push(delivery: Delivery) -> None:
    payload = delivery.payload
    push_record(
        repository=_repository(delivery),
        ref=str(payload.get("ref") or ""),
        before=str(payload.get("before") or ""),
        after=str(payload["after"]),
        commits=[str(c["id"]) for c in payload.get("commits") or [] if isinstance(c, dict) and "id" in c],
        forced=bool(payload.get("forced")),
        received_at=delivery.received_at,
        delivery_id=delivery.delivery_id,
    )


def _check(
    delivery: Delivery,
    *,
    source: str,
    sha: Any,
    name: Any,
    external_id: Any,
    status: Any,
    conclusion: Any,
    updated: Any,
) -> None:
    check_record(
        repository=_repository(delivery),
        sha=str(sha).lower(),
        source=source,
        name=str(name or source),
        external_id=str(external_id),
        state=normalize_state(source=source, status=str(status or ""), conclusion=conclusion),
        conclusion=str(conclusion or status or ""),
        updated_at=_time(updated, delivery.received_at),
        received_at=delivery.received_at,
    )


def _run_or_job(delivery: Delivery, source: str) -> None:
    # Check runs and workflow jobs carry no updated_at: completion, else start, else creation.
    item = _obj(delivery.payload, source)
    _check(
        delivery,
        source=source,
        sha=item["head_sha"],
        name=item.get("name"),
        external_id=item["id"],
        status=item.get("status"),
        conclusion=item.get("conclusion"),
        updated=item.get("completed_at") or item.get("started_at") or item.get("created_at"),
    )


def handle_check_run(delivery: Delivery) -> None:
    _run_or_job(delivery, CommitCheck.Source.CHECK_RUN)


def handle_workflow_job(delivery: Delivery) -> None:
    _run_or_job(delivery, CommitCheck.Source.WORKFLOW_JOB)


def handle_check_suite(delivery: Delivery) -> None:
    suite = _obj(delivery.payload, "check_suite")
    _check(
        delivery,
        source=CommitCheck.Source.CHECK_SUITE,
        sha=suite["head_sha"],
        name=_obj(suite, "app").get("name"),
        external_id=suite["id"],
        status=suite.get("status"),
        conclusion=suite.get("conclusion"),
        updated=suite.get("updated_at"),
    )


def handle_workflow_run(delivery: Delivery) -> None:
    run = _obj(delivery.payload, "workflow_run")
    _check(
        delivery,
        source=CommitCheck.Source.WORKFLOW_RUN,
        sha=run["head_sha"],
        name=run.get("name") or _obj(delivery.payload, "workflow").get("name"),
        external_id=run["id"],
        status=run.get("status"),
        conclusion=run.get("conclusion"),
        updated=run.get("updated_at"),
    )


def handle_status(delivery: Delivery) -> None:
    payload = delivery.payload
    context = str(payload.get("context") or "default")
    _check(
        delivery,
        source=CommitCheck.Source.STATUS,
        sha=payload["sha"],
        name=context,
        # One row per context: a newer status of the same context replaces the older one.
        external_id=context,
        status=payload.get("state"),
        conclusion=None,
        updated=payload.get("updated_at"),
    )


EVENT_HANDLERS: dict[str, Handler] = {
    "ping": handle_ping,
    "push": handle_push,
    "check_run": handle_check_run,
    "check_suite": handle_check_suite,
    "workflow_run": handle_workflow_run,
    "workflow_job": handle_workflow_job,
    "status": handle_status,
}
# (event, action) pairs of handled events that change nothing we track.
IGNORED_ACTIONS = {
    ("check_run", "requested_action"),  # someone pressed a check's button; its state comes separately
}
# Events a hook may send that Nexus has no use for (GitHub's "send me everything", or a learner's repo).
IGNORED_EVENTS = {
    "branch_protection_rule",
    "commit_comment",
    "create",
    "delete",
    "deploy_key",
    "deployment",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "installation",
    "installation_repositories",
    "issue_comment",
    "issues",
    "label",
    "member",
    "membership",
    "meta",
    "milestone",
    "organization",
    "page_build",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "release",
    "repository",
    "repository_dispatch",
    "security_advisory",
    "star",
    "team",
    "team_add",
    "watch",
    "workflow_dispatch",
}


def dispatch(delivery: Delivery) -> str:
    """Run the delivery's handler; the outcome (handled, ignored, unsupported) to record."""
    if delivery.event in IGNORED_EVENTS or (delivery.event, delivery.action) in IGNORED_ACTIONS:
        return Delivery.Outcome.IGNORED
    handler = EVENT_HANDLERS.get(delivery.event)
    if handler is None:
        return Delivery.Outcome.UNSUPPORTED
    handler(delivery)
    return Delivery.Outcome.HANDLED
