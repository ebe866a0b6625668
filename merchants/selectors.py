"""Merchant reads."""

from django.db.models import QuerySet

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
