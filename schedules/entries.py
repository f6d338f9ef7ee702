"""Beat entries for calendar events: one ClockedSchedule + one-off PeriodicTask each, synced by diff."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks


@dataclass(frozen=True)
class EventRecord:
    """What the domain hands the Beat adapter: a named, dated task call."""

    name: str
    task: str
    kwargs: dict
    instant: datetime  # aware, UTC
    enabled: bool
    queue: str | None = None
    description: str = ""


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted


def _kwargs_json(kwargs: dict) -> str:
    return json.dumps(kwargs, sort_keys=True)


@transaction.atomic
def sync(*, prefix: str, records: Iterable[EventRecord], prune: bool = True) -> SyncResult:
    """Make the entries named prefix* match records; touch only rows that differ.

    Beat is told once (PeriodicTasks.changed) if anything changed, so it reloads within one tick.
    """
    result = SyncResult()
    wanted = {r.name: r for r in records}
    existing = {
        task.name: task
        for task in PeriodicTask.objects.select_for_update(of=("self",))
        .filter(name__startswith=prefix)
        .select_related("clocked")
    }
    new = [record for name, record in wanted.items() if name not in existing]
    if new:
        # Two bulk inserts, not two saves (and a PeriodicTasks bump from the save signal) per entry:
        # a cohort's whole calendar is created at once.
        clocked = ClockedSchedule.objects.bulk_create([ClockedSchedule(clocked_time=r.instant) for r in new])
        PeriodicTask.objects.bulk_create(
            [
                PeriodicTask(
                    name=r.name,
                    task=r.task,
                    kwargs=_kwargs_json(r.kwargs),
                    clocked=c,
                    one_off=True,
                    enabled=r.enabled,
                    queue=r.queue,
                    description=r.description,
                )
                for r, c in zip(new, clocked, strict=True)
            ],
            batch_size=500,
        )
        result.created = len(new)
    for name, task in existing.items():
        record = wanted.get(name)
        if record is None:
            continue
        kwargs = _kwargs_json(record.kwargs)
        fields = []
        moved = task.clocked is None or task.clocked.clocked_time != record.instant
        if moved:
            if task.clocked is None:
                task.clocked = ClockedSchedule.objects.create(clocked_time=record.instant)
                fields.append("clocked")
            else:
                ClockedSchedule.objects.filter(pk=task.clocked_id).update(clocked_time=record.instant)
            # A moved one-off must fire again at its new time, even if Beat already disabled it.
            task.total_run_count = 0
            task.last_run_at = None
            fields += ["total_run_count", "last_run_at"]
        # Beat disables a one-off once it has sent it; re-enabling it before the worker has carried it
        # out would only send it again. Unless it moved, it stays as Beat left it.
        already_sent = not moved and task.total_run_count > 0 and not task.enabled
        if task.enabled != record.enabled and not (record.enabled and already_sent):
            task.enabled = record.enabled
            fields.append("enabled")
        if task.task != record.task or task.kwargs != kwargs or task.queue != record.queue:
            task.task, task.kwargs, task.queue = record.task, kwargs, record.queue
            fields += ["task", "kwargs", "queue"]
        if fields:
            # update(), not save(): save() would bump PeriodicTasks per row; we bump once below.
            PeriodicTask.objects.filter(pk=task.pk).update(**{f: getattr(task, f) for f in set(fields)})
            result.updated += 1
        else:
            result.unchanged += 1
    if prune:
        stale = [task for name, task in existing.items() if name not in wanted]
        if stale:
            _delete(stale)
            result.deleted = len(stale)
    if result.changed:
        PeriodicTasks.update_changed()
    return result


def _delete(tasks: list[PeriodicTask]) -> None:
    clocked_ids = [t.clocked_id for t in tasks if t.clocked_id]
    PeriodicTask.objects.filter(pk__in=[t.pk for t in tasks]).delete()
    ClockedSchedule.objects.filter(pk__in=clocked_ids).delete()


@transaction.atomic
def delete(*, prefix: str) -> int:
    """Remove every entry named prefix* (and its clocked schedule)."""
    tasks = list(PeriodicTask.objects.filter(name__startswith=prefix))
    if tasks:
        _delete(tasks)
        PeriodicTasks.update_changed()
    return len(tasks)


def states(*, prefix: str) -> dict[str, bool]:
    """name -> enabled, for entries named prefix*."""
    return dict(PeriodicTask.objects.filter(name__startswith=prefix).values_list("name", "enabled"))
