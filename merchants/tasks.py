"""Merchant jobs: idempotency-key retention and outgoing webhook delivery."""

from celery import shared_task

from merchants import idempotency, webhooks


@shared_task
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task
def deliver_webhook(delivery_id: str) -> str:
    return webhooks.deliver(delivery_id=delivery_id).status


@shared_task
def redeliver_webhooks() -> int:
    """Start deliveries whose backoff has elapsed (and any whose first send or worker was lost),
    each in its own task."""
    due = webhooks.due_deliveries()
    webhooks.dispatch(due)
    return len(due)
