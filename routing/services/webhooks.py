"""Receiving provider webhooks: verify, store, deduplicate, queue processing.

`receive_webhook` runs in the request: it verifies the signature over the raw body (the
adapter's `parse_webhook`: Standard Webhooks for the simulator, Stripe-Signature, Adyen HMAC;
5-minute timestamp tolerance, several secrets during a rotation), stores each event keyed by
(provider, event_id) — a redelivery finds the row and does nothing — and queues its processing
(routing.services.incoming, in Celery) on commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from core.errors import InvalidRequest, NotFound
from routing import tasks
from routing.adapters import WebhookVerificationError
from routing.interface import WebhookEvent
from routing.models import IncomingEvent
from routing.providers import provider_configs
from routing.services.adapters import adapter_for

logger = logging.getLogger("qr.routing.webhooks")

# The path segment the simulator posts to when configured with one URL for all its providers.
SIMULATOR_ALIAS = "simulator"
# Header names worth keeping for support: ids and timestamps, never signatures.
KEPT_HEADERS = ("webhook-id", "webhook-timestamp", "content-type", "user-agent")


@dataclass(frozen=True)
class Received:
    stored: int  # new events
    duplicates: int


def receive_webhook(*, provider: str, body: bytes, headers: dict[str, str]) -> Received:
    """Raises InvalidRequest (400) when no configured secret verifies the body."""
    verified = _verify(provider, body, headers)
    kept = {k: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k in KEPT_HEADERS}
    stored = duplicates = 0
    with transaction.atomic():
        for event in verified:
            row, created = IncomingEvent.objects.get_or_create(
                provider=event.provider,
                event_id=event.event_id,
                defaults=_fields(event, body, kept),
            )
            if created:
                stored += 1
                # robust: the event is stored; the retry sweep processes it if queueing fails.
                transaction.on_commit(
                    lambda pk=row.pk: tasks.process_incoming_event.delay(pk), robust=True
                )
            else:
                duplicates += 1
    return Received(stored=stored, duplicates=duplicates)


def _verify(provider: str, body: bytes, headers: dict[str, str]) -> list[WebhookEvent]:
    configs = provider_configs()
    if provider == SIMULATOR_ALIAS:
        names = [c.name for c in configs.values() if c.kind == "simulator" and c.enabled]
    elif provider in configs and configs[provider].enabled:
        names = [provider]
    else:
        raise NotFound(f"No such provider: '{provider}'", param="provider")
    reason = "no provider to verify with"
    for name in names:
        try:
            found = adapter_for(name).parse_webhook(body=body, headers=headers)
        except WebhookVerificationError as exc:
            reason = str(exc)
            continue
        if any(not e.event_id for e in found):
            raise InvalidRequest("Event without an id.", code="webhook_invalid")
        return found
    logger.warning("webhook for %s refused: %s", provider, reason)
    raise InvalidRequest("Webhook signature verification failed.", code="webhook_signature_invalid")


def _fields(event: WebhookEvent, body: bytes, headers: dict[str, str]) -> dict:
    return {
        "type": event.type[:100],
        "reference": event.reference[:100],
        "provider_reference": event.provider_reference[:100],
        "amount_minor": event.amount_minor,
        "currency": event.currency[:3],
        "data": event.data,
        "raw_body": body.decode("utf-8", errors="replace"),
        "headers": headers,
    }
