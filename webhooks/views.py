"""POST /webhooks/github/: verify, store once, acknowledge; the work happens in a task on the github queue."""

from __future__ import annotations

import logging

from django.db import DataError, IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as KombuOperationalError

from core import clock
from webhooks.models import Delivery
from webhooks.receiver import (
    DRAIN_FLAG,
    DRAIN_FLAG_TTL,
    Incoming,
    Refused,
    count_rejection,
    read_delivery,
    redis_call,
)
from webhooks.tasks import drain_deliveries, process_delivery

logger = logging.getLogger("nexus.webhooks")


def _refused(request: HttpRequest, refused: Refused) -> JsonResponse:
    count_rejection(refused.reason)
    logger.warning(
        "github delivery refused (%s %s): %s; delivery=%r event=%r from %s",
        refused.status,
        refused.reason,
        refused.message,
        request.headers.get("X-GitHub-Delivery", "")[:64],
        request.headers.get("X-GitHub-Event", "")[:64],
        request.META.get("REMOTE_ADDR", ""),
    )
    return JsonResponse({"error": refused.message}, status=refused.status)


def _stored(delivery_id: str, pk: int | None) -> JsonResponse:
    if pk is None:
        # A redelivery of one we already hold: acknowledged, nothing more.
        return JsonResponse({"status": "duplicate", "delivery": delivery_id}, status=200)
    return JsonResponse({"status": "queued", "delivery": delivery_id}, status=202)


def _unstorable(request: HttpRequest, exc: Exception) -> JsonResponse:
    return _refused(request, Refused(400, "unstorable", f"payload cannot be stored: {exc}"[:200]))


_INSERT = (
    "INSERT INTO webhooks_delivery (delivery_id, event, action, repository, hook_id, received_at, payload,"
    " state, outcome, error, attempts) VALUES (%s, %s, %s, %s, %s, %s, {payload}, %s, '', '', 0)"
    " ON CONFLICT (delivery_id) DO NOTHING RETURNING id"
)


def delivery_insert(incoming: Incoming) -> int | None:
    """One INSERT in autocommit (durable once it returns); the new id, or None for a duplicate.

    The raw body goes in as the payload as is (PostgreSQL parses it into jsonb): no ORM and no
    second serialisation of an 8 KB document on the request path.
    """
    payload = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT.format(payload=payload),
            [
                incoming.delivery_id,
                incoming.event,
                incoming.action,
                incoming.repository,
                incoming.hook_id,
                connection.ops.adapt_datetimefield_value(clock.now()),
                incoming.text,
                Delivery.State.RECEIVED,
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def request_drain() -> None:
    """Make sure a drain task is queued; one Redis round trip when one already is.

    When Redis is down the delivery is still stored and acknowledged: the next drain (queued by a later
    delivery, or Beat's sweep nexus:github-deliveries) processes it.
    """
    if redis_call("the drain flag", lambda r: r.set(DRAIN_FLAG, "1", nx=True, ex=DRAIN_FLAG_TTL)):
        try:
            drain_deliveries.apply_async()
        except (KombuOperationalError, OSError) as exc:  # the row is safe either way
            logger.warning("could not queue a drain of github deliveries: %s", exc)
            redis_call("the drain flag", lambda r: r.delete(DRAIN_FLAG))


@csrf_exempt
@require_POST
def github(request: HttpRequest) -> HttpResponse:
    """The receiver: acknowledged only once the delivery is committed to the database."""
    try:
        incoming = read_delivery(request)
    except Refused as refused:
        return _refused(request, refused)
    try:
        pk = delivery_insert(incoming)
    except DataError as exc:
        return _unstorable(request, exc)
    if pk is not None:
        # Autocommit: runs at once, the row being committed already. Inside an atomic block (tests,
        # ATOMIC_REQUESTS) it waits for the commit, so a drain never looks before the row is there.
        transaction.on_commit(request_drain)
    return _stored(incoming.delivery_id, pk)


@csrf_exempt
@require_POST
def github_baseline(request: HttpRequest) -> HttpResponse:
    """The straightforward receiver (benchmark P3's baseline): ORM insert, one Celery publish on commit."""
    try:
        incoming = read_delivery(request)
    except Refused as refused:
        return _refused(request, refused)
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                delivery_id=incoming.delivery_id,
                event=incoming.event,
                action=incoming.action,
                repository=incoming.repository,
                hook_id=incoming.hook_id,
                received_at=clock.now(),
                payload=incoming.payload,
            )
            process_delivery.delay_on_commit(delivery.pk)
    except IntegrityError:
        return _stored(incoming.delivery_id, None)
    except DataError as exc:
        return _unstorable(request, exc)
    return _stored(incoming.delivery_id, delivery.pk)
