"""Outgoing webhooks: events to the merchant's endpoints, created with the change that caused them.

`emit_event` is called inside the transaction that changed the object; the deliveries are
created in that transaction and handed to Celery after it commits, one task each (how an attempt
is made, signed, retried and limited per endpoint: merchants/delivery.py), so an event is never
sent for a change that rolled back and never lost for one that committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.ids import new_id
from merchants import selectors
from merchants.models import WebhookDelivery
from merchants.selectors import Subscriber
from merchants.tasks import deliver_webhook


def emit_event(
    *,
    merchant_id: str,
    livemode: bool,
    event_type: str,
    data: dict[str, Any] | Callable[[], dict[str, Any]],
) -> list[str]:
    """Queue `event_type` for every endpoint of the merchant that subscribes to it. `data` may
    be a callable, so the object is only rendered when someone subscribes."""
    return emit_events(merchant_id=merchant_id, livemode=livemode, events=[(event_type, data)])


def emit_events(
    *,
    merchant_id: str,
    livemode: bool,
    events: list[tuple[str, dict[str, Any] | Callable[[], dict[str, Any]]]],
    subscribers: list[Subscriber] | None = None,
) -> list[str]:
    """Queue several events of one merchant, in order, with one look at its endpoints — none
    when the caller has read them in this transaction (`subscribers`); returns the delivery
    ids."""
    if subscribers is None:
        subscribers = selectors.subscribers(merchant_id=merchant_id, livemode=livemode)
    if not subscribers:
        return []
    now = timezone.now()
    deliveries = []
    for event_type, data in events:
        wanted_by = [endpoint for endpoint in subscribers if endpoint.subscribes_to(event_type)]
        if not wanted_by:
            continue
        event_id = new_id("evt")
        payload = {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(now.timestamp()),
            "livemode": livemode,
            "data": {"object": data() if callable(data) else data},
        }
        deliveries += [
            WebhookDelivery(
                endpoint_id=endpoint.endpoint_id,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                next_attempt_at=now,
            )
            for endpoint in wanted_by
        ]
    if not deliveries:
        return []
    ids = [delivery.id for delivery in WebhookDelivery.objects.bulk_create(deliveries)]

    transaction.on_commit(lambda: dispatch(ids))
    return ids


def dispatch(delivery_ids: list[str]) -> None:
    """One task per delivery, so one slow endpoint holds up only its own deliveries."""
    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)
