"""Merchant reads."""

from django.db.models import QuerySet

from config.api.errors import NotFound
from merchants.models import WebhookEndpoint


def webhook_endpoints(*, merchant_id: str, livemode: bool) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant_id=merchant_id, livemode=livemode)


def active_endpoints_for_event(
    *, merchant_id: str, livemode: bool, event_type: str
) -> list[WebhookEndpoint]:
    return [
        endpoint
        for endpoint in webhook_endpoints(merchant_id=merchant_id, livemode=livemode).filter(
            active=True
        )
        if "*" in endpoint.enabled_events or event_type in endpoint.enabled_events
    ]


def webhook_endpoint(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    """One endpoint of this merchant and mode; any other is a 404, never a 403."""
    endpoint = (
        webhook_endpoints(merchant_id=merchant_id, livemode=livemode).filter(pk=endpoint_id).first()
    )
    if endpoint is None:
        raise NotFound(f"No such webhook endpoint: '{endpoint_id}'", param="id")
    return endpoint
