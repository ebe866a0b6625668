"""Merchant jobs: idempotency-key retention and outgoing webhook delivery."""

from celery import shared_task

from merchants import delivery, idempotency


@shared_task
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task
def deliver_webhook(delivery_id: str) -> str:
    """One attempt; when it ends, the endpoint's next waiting delivery gets its own task."""
    delivered = delivery.deliver(delivery_id=delivery_id)
    for waiting_id in delivered.next_ids:
        deliver_webhook.delay(waiting_id)
    return delivered.delivery.status


@shared_task
def redeliver_webhooks() -> int:
    """Start deliveries whose backoff has elapsed (and any whose first send or worker was lost),
    each in its own task."""
    due = delivery.due_deliveries()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
