"""Merchant reads."""

from dataclasses import dataclass

from django.db.models import QuerySet

from config import rows
from config.api.errors import NotFound
from merchants.models import ApiKey, Merchant, WebhookEndpoint
from merchants.services import hash_key


def webhook_endpoints(*, merchant_id: str, livemode: bool) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant_id=merchant_id, livemode=livemode)


def active_endpoints(*, merchant_id: str, livemode: bool) -> list[WebhookEndpoint]:
    # Written once, not compiled by the ORM per call: this runs in every payment's transaction.
    return rows.fetch_all(
        WebhookEndpoint,
        "merchant_id = %s AND livemode = %s AND active",
        [merchant_id, livemode],
        order_by="created DESC",  # the model's ordering
    )


def active_endpoints_for_event(
    *, merchant_id: str, livemode: bool, event_type: str
) -> list[WebhookEndpoint]:
    return [
        endpoint
        for endpoint in active_endpoints(merchant_id=merchant_id, livemode=livemode)
        if endpoint.subscribes_to(event_type)
    ]


def webhook_endpoint(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    """One endpoint of this merchant and mode; any other is a 404, never a 403."""
    endpoint = (
        webhook_endpoints(merchant_id=merchant_id, livemode=livemode).filter(pk=endpoint_id).first()
    )
    if endpoint is None:
        raise NotFound(f"No such webhook endpoint: '{endpoint_id}'", param="id")
    return endpoint


@dataclass(frozen=True)
class KeyScope:
    """Whose key it is and in which mode; what a page keyed by a publishable key may act for."""

    merchant_id: str
    livemode: bool


def publishable_key_scope(*, key: str) -> KeyScope | None:
    """The merchant and mode of an active (not revoked) publishable key; None for anything else,
    secret keys included (a page must never be driven by one)."""
    if not key.startswith("pk_"):
        return None
    found = (
        ApiKey.objects.filter(
            key_hash=hash_key(key), kind=ApiKey.Kind.PUBLISHABLE, revoked_at__isnull=True
        )
        .values_list("merchant_id", "livemode")
        .first()
    )
    return KeyScope(merchant_id=found[0], livemode=found[1]) if found else None


def allowed_origins(*, merchant_id: str) -> list[str]:
    """The origins allowed to embed this merchant's hosted pages, as stored (not normalized);
    empty for an unknown merchant."""
    stored = Merchant.objects.filter(pk=merchant_id).values_list("allowed_origins", flat=True)
    return [origin for origin in (stored.first() or []) if isinstance(origin, str)]
