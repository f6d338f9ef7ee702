"""Which of a hook's listed deliveries to ask GitHub for again: failed on GitHub's side and never stored here."""

from __future__ import annotations

from webhooks.models import Delivery

# Attempts GitHub lists for one delivery (the first and its redeliveries) after which we stop asking:
# an endpoint that keeps failing needs a human, not a redelivery every few minutes.
MAX_ATTEMPTS = 4


def failed(delivery: dict) -> bool:
    code = delivery.get("status_code") or 0
    return code >= 400 or code == 0 or str(delivery.get("status", "")).upper() != "OK"


def deliveries_to_redeliver(listed: list[dict]) -> list[dict]:
    """One attempt per delivery guid to redeliver: every attempt GitHub lists for it failed, we hold no
    row for that guid (X-GitHub-Delivery), and it has not been tried MAX_ATTEMPTS times already."""
    attempts: dict[str, list[dict]] = {}
    for delivery in listed:
        if delivery.get("guid") and delivery.get("id") is not None:
            attempts.setdefault(delivery["guid"], []).append(delivery)
    candidates = {
        guid: tries
        for guid, tries in attempts.items()
        if all(failed(t) for t in tries) and len(tries) < MAX_ATTEMPTS
    }
    stored = set(
        Delivery.objects.filter(delivery_id__in=list(candidates)).values_list("delivery_id", flat=True)
    )
    return [max(tries, key=lambda t: t["id"]) for guid, tries in candidates.items() if guid not in stored]
