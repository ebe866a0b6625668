"""Delivery of outgoing webhooks: one attempt at a time, signed, retried with backoff.

Signatures follow the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) with the endpoint's own secret — and, for a day after a roll, with its
previous one too (two space-separated `v1,…` signatures).

An attempt is claimed in a short transaction (a lease in `locked_until`, at most
ENDPOINT_MAX_IN_FLIGHT per endpoint), posted with no transaction or row lock held, through the
egress guard (merchants/egress.py), and its outcome recorded in a second transaction. When an
attempt ends, the task starts the endpoint's next waiting delivery (`Delivered.next_ids`); the
sweep (`redeliver_webhooks`, every minute) starts retries whose backoff has elapsed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone
from standardwebhooks import Webhook

from merchants import egress
from merchants.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("qr.webhooks")

DELIVERY_TIMEOUT_S = 5.0  # connect, each write and each read
# An attempt's lease: far longer than a normal attempt takes; a dead worker's attempt is retried
# once it runs out (the outcome of one an endpoint dragged past it is dropped: `_record`).
LEASE_S = 120
ENDPOINT_MAX_IN_FLIGHT = 4  # attempts to one endpoint at once
# Waits after attempt 1, 2, …: like Stripe's, growing to 12 hours, the last attempt about three
# days (71.6 h) after the first. Then the delivery is failed; the endpoint stays enabled.
BACKOFF_S = (
    60,
    5 * 60,
    30 * 60,
    3600,
    2 * 3600,
    4 * 3600,
    8 * 3600,
    12 * 3600,
    12 * 3600,
    12 * 3600,
    12 * 3600,
    8 * 3600,
)
MAX_DELIVERY_ATTEMPTS = len(BACKOFF_S) + 1
REDELIVERY_BATCH_SIZE = 200


@dataclass(frozen=True)
class Delivered:
    """A delivery after `deliver`, and the endpoint's waiting deliveries to start now that an
    attempt has ended (none when no attempt was made)."""

    delivery: WebhookDelivery
    next_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Claim:
    """An attempt taken: what to send, and the lease that proves the attempt is ours."""

    delivery_id: str
    endpoint_id: str
    attempts: int
    lease: datetime
    livemode: bool
    url: str
    body: bytes
    headers: dict[str, str]


def deliver(*, delivery_id: str) -> Delivered:
    """One delivery attempt: claimed in a short transaction, sent with none open, its outcome
    recorded in another; schedules the next attempt on failure, gives up after the last. An
    attempt that cannot start (done, not due, in flight elsewhere, the endpoint at its
    concurrency limit) does nothing: a hand-off or the sweep starts it later."""
    claim = _claim(delivery_id=delivery_id)
    if claim is None:
        return Delivered(WebhookDelivery.objects.get(pk=delivery_id))
    status_code, error = _send(claim)
    delivery = _record(claim, status_code=status_code, error=error)
    return Delivered(delivery, next_ids=_waiting(endpoint_id=claim.endpoint_id))


def _claimable(now: datetime) -> Q:
    return Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now) & (
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def _claim(*, delivery_id: str) -> _Claim | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(_claimable(now), pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        # The endpoint's row lock orders the claims of its deliveries, so at most
        # ENDPOINT_MAX_IN_FLIGHT leases are out at once; NO KEY UPDATE leaves the inserts of new
        # deliveries (which reference it) free to proceed.
        endpoint = WebhookEndpoint.objects.select_for_update(no_key=True).get(
            pk=delivery.endpoint_id
        )
        if not endpoint.active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            delivery.last_error = "endpoint disabled"
            delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
            return None
        in_flight = WebhookDelivery.objects.filter(
            endpoint_id=endpoint.pk, locked_until__gt=now
        ).count()
        if in_flight >= ENDPOINT_MAX_IN_FLIGHT:
            return None
        delivery.locked_until = now + timedelta(seconds=LEASE_S)
        delivery.attempts += 1
        delivery.save(update_fields=["locked_until", "attempts"])
        body = json.dumps(delivery.payload, separators=(",", ":"))
        sent_at = datetime.now(UTC)
        signatures = " ".join(
            Webhook(secret).sign(delivery.event_id, sent_at, body)
            for secret in endpoint.signing_secrets(at=now)
        )
        return _Claim(
            delivery_id=delivery.pk,
            endpoint_id=endpoint.pk,
            attempts=delivery.attempts,
            lease=delivery.locked_until,
            livemode=endpoint.livemode,
            url=endpoint.url,
            body=body.encode(),
            headers={
                "content-type": "application/json",
                "webhook-id": delivery.event_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": signatures,
            },
        )


def _send(claim: _Claim) -> tuple[int | None, str]:
    """The endpoint's status code, or None and why there is none. No transaction is open."""
    try:
        status_code = egress.post(
            claim.url,
            content=claim.body,
            headers=claim.headers,
            timeout_s=DELIVERY_TIMEOUT_S,
            policy=egress.policy_from_settings(livemode=claim.livemode),
        )
    except egress.DestinationRefused as exc:
        return None, f"destination refused: {exc}"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return status_code, ""


def _record(claim: _Claim, *, status_code: int | None, error: str) -> WebhookDelivery:
    outcome: dict[str, Any] = {
        "locked_until": None,
        "last_status_code": status_code,
        "last_error": error[:500],
    }
    if status_code is not None and 200 <= status_code < 300:
        outcome.update(status=WebhookDelivery.Status.DELIVERED, next_attempt_at=None)
    elif claim.attempts >= MAX_DELIVERY_ATTEMPTS:
        outcome.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        logger.warning("webhook delivery %s to %s given up", claim.delivery_id, claim.url)
    else:
        backoff_s = BACKOFF_S[min(claim.attempts - 1, len(BACKOFF_S) - 1)]
        outcome["next_attempt_at"] = timezone.now() + timedelta(seconds=backoff_s)
    # Only while the lease is still ours: past it another worker may have taken the delivery.
    recorded = WebhookDelivery.objects.filter(pk=claim.delivery_id, locked_until=claim.lease)
    if not recorded.update(**outcome):
        logger.warning("webhook delivery %s outlived its lease; outcome dropped", claim.delivery_id)
    return WebhookDelivery.objects.get(pk=claim.delivery_id)


def _waiting(*, endpoint_id: str) -> tuple[str, ...]:
    """The endpoint's next waiting delivery, one that found it at its limit."""
    now = timezone.now()
    waiting = (
        WebhookDelivery.objects.filter(_claimable(now), endpoint_id=endpoint_id)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1]
    )
    return tuple(waiting)


def due_deliveries(*, batch_size: int = REDELIVERY_BATCH_SIZE) -> list[str]:
    """Deliveries whose backoff has elapsed (or whose first send or lease was lost), the oldest
    first, at most ENDPOINT_MAX_IN_FLIGHT per endpoint: an endpoint's backlog goes on by
    hand-offs, not by flooding the queue."""
    now = timezone.now()
    in_flight = (
        WebhookDelivery.objects.filter(endpoint_id=OuterRef("endpoint_id"), locked_until__gt=now)
        .values("endpoint_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    ranked = WebhookDelivery.objects.filter(_claimable(now)).annotate(
        rank=Window(
            RowNumber(), partition_by=[F("endpoint_id")], order_by=F("next_attempt_at").asc()
        ),
        free=ENDPOINT_MAX_IN_FLIGHT - Coalesce(Subquery(in_flight), 0),
    )
    return list(
        ranked.filter(rank__lte=F("free"))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
