"""Outgoing webhooks: events to the merchant's endpoints, signed, retried with backoff.

`emit_event` is called inside the transaction that changed the object; the deliveries are
created in that transaction and sent by a Celery task after it commits, so an event is never
sent for a change that rolled back and never lost for one that committed. Signatures follow the
Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the
endpoint's own secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from core.ids import new_id
from merchants import selectors
from merchants.models import WebhookDelivery

logger = logging.getLogger("qr.webhooks")

DELIVERY_TIMEOUT_S = 5.0
MAX_DELIVERY_ATTEMPTS = 8
BACKOFF_S = (10, 60, 300, 1800, 3600, 3 * 3600, 6 * 3600)  # after attempt 1, 2, …
REDELIVERY_BATCH_SIZE = 200


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
) -> list[str]:
    """Queue several events of one merchant, in order, with one look at its endpoints; returns
    the delivery ids."""
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

    def send() -> None:
        from merchants.tasks import deliver_webhook

        for delivery_id in ids:
            deliver_webhook.delay(delivery_id)

    transaction.on_commit(send)
    return ids


def deliver(*, delivery_id: str) -> WebhookDelivery:
    """One delivery attempt; schedules the next one on failure, gives up after the limit."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return WebhookDelivery.objects.get(pk=delivery_id)  # done or in another worker
        body = json.dumps(delivery.payload, separators=(",", ":"))
        sent_at = datetime.now(UTC)
        signature = Webhook(delivery.endpoint.secret).sign(delivery.event_id, sent_at, body)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        delivery.attempts += 1
        try:
            response = httpx.post(
                delivery.endpoint.url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT_S
            )
            delivery.last_status_code = response.status_code
            delivery.last_error = ""
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:500]
            ok = False
        if ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.next_attempt_at = None
        elif delivery.attempts >= MAX_DELIVERY_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            logger.warning("webhook %s to %s given up", delivery.event_id, delivery.endpoint.url)
        else:
            backoff_s = BACKOFF_S[min(delivery.attempts - 1, len(BACKOFF_S) - 1)]
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff_s)
        delivery.save()
    return delivery


def due_deliveries(*, batch_size: int = REDELIVERY_BATCH_SIZE) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
