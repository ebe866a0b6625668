"""Webhook delivery holds no transaction or row lock while it calls the endpoint, each delivery
is its own task, an endpoint takes a bounded number of attempts at once, and retries back off
for about three days."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from merchants import delivery as webhook_delivery
from merchants import services, tasks, webhooks
from merchants.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import make_merchant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback_only")]


def endpoint_for(merchant_id: str, url: str) -> WebhookEndpoint:
    return services.create_webhook_endpoint(
        merchant_id=merchant_id, livemode=False, url=url, enabled_events=["*"]
    )


def due_delivery(endpoint: WebhookEndpoint, event_id: str, *, age_s: int = 0) -> str:
    """A pending delivery whose time has come (as one whose first send was lost)."""
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type="payment.captured",
        payload={"id": event_id, "type": "payment.captured"},
        next_attempt_at=timezone.now() - timedelta(seconds=age_s),
    ).pk


@pytest.fixture
def workers(monkeypatch):
    """Celery workers stood in for by threads: each queued delivery runs in its own thread,
    with its own database connection, as it would in a worker pool."""
    started: list[threading.Thread] = []

    def run(delivery_id: str) -> None:
        try:
            tasks.deliver_webhook(delivery_id)
        finally:
            connection.close()

    def delay(delivery_id: str) -> None:
        thread = threading.Thread(target=run, args=(delivery_id,), daemon=True)
        started.append(thread)
        thread.start()

    monkeypatch.setattr(tasks.deliver_webhook, "delay", delay)
    yield started
    for thread in started:
        thread.join(timeout=10)


def test_no_transaction_or_lock_is_held_while_the_endpoint_is_called(merchant, receivers):
    worker_connection = connections["default"]
    seen: dict[str, object] = {}

    def inspect(_request) -> None:
        # Runs in the receiver's thread while our worker (this test's thread) waits for it.
        seen["in_atomic_block"] = worker_connection.in_atomic_block
        pid = worker_connection.connection.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [pid])
            seen["state"] = cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype IN "
                "('tuple', 'transactionid') ",
                [pid],
            )
            seen["row_locks"] = cursor.fetchone()[0]
        connection.close()

    receiver = receivers(on_request=inspect)
    endpoint_for(merchant.merchant.pk, receiver.url)
    [delivery_id] = webhooks.emit_event(
        merchant_id=merchant.merchant.pk, livemode=False, event_type="payment.captured", data={}
    )
    assert WebhookDelivery.objects.get(pk=delivery_id).status == "delivered"
    assert seen == {"in_atomic_block": False, "state": "idle", "row_locks": 0}


def test_a_slow_endpoint_does_not_delay_another_merchants_delivery(merchant, receivers, workers):
    slow = receivers(delay_s=2.0)
    fast = receivers()
    slow_endpoint = endpoint_for(merchant.merchant.pk, slow.url)
    fast_endpoint = endpoint_for(make_merchant("Other Shop").merchant.pk, fast.url)
    due_delivery(slow_endpoint, "evt_slow", age_s=60)  # first in line
    due_delivery(fast_endpoint, "evt_fast")

    started_at = time.monotonic()
    assert tasks.redeliver_webhooks() == 2
    assert len(fast.wait(1, timeout_s=1.5)) == 1
    assert time.monotonic() - started_at < 1.5
    assert slow.received == []  # still waiting for the slow endpoint
    assert len(slow.wait(1, timeout_s=5)) == 1


def test_an_endpoint_takes_a_limited_number_of_attempts_at_once_and_the_rest_follow(
    merchant, receivers, workers, monkeypatch
):
    monkeypatch.setattr(webhook_delivery, "ENDPOINT_MAX_IN_FLIGHT", 1)
    receiver = receivers(delay_s=0.5)
    endpoint = endpoint_for(merchant.merchant.pk, receiver.url)
    first = due_delivery(endpoint, "evt_1", age_s=10)
    second = due_delivery(endpoint, "evt_2")

    tasks.deliver_webhook.delay(first)
    assert receiver.started.wait(5)
    # While the first is in flight the second does not start; it waits for a hand-off.
    waiting = webhook_delivery.deliver(delivery_id=second).delivery
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    assert webhook_delivery.due_deliveries() == []  # the sweep would not start it either

    received = receiver.wait(2, timeout_s=5)
    assert [json_id(request.body) for request in received] == ["evt_1", "evt_2"]
    for thread in workers:
        thread.join(timeout=5)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def json_id(body: bytes) -> str:
    return json.loads(body)["id"]


def test_an_attempt_lost_with_its_worker_is_retried_when_its_lease_runs_out(merchant, receivers):
    receiver = receivers()
    endpoint = endpoint_for(merchant.merchant.pk, receiver.url)
    delivery_id = due_delivery(endpoint, "evt_lost")
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        attempts=1, locked_until=timezone.now() + timedelta(seconds=30)
    )
    assert tasks.redeliver_webhooks() == 0  # its lease still runs: someone may be sending it
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.redeliver_webhooks() == 1
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.locked_until) == ("delivered", 2, None)
    assert len(receiver.received) == 1


def test_retries_back_off_for_about_three_days_then_give_up(merchant, receivers):
    assert 60 * 3600 <= sum(webhook_delivery.BACKOFF_S) <= 72 * 3600
    assert list(webhook_delivery.BACKOFF_S[:8]) == sorted(webhook_delivery.BACKOFF_S[:8])
    receiver = receivers(status=500)
    endpoint = endpoint_for(merchant.merchant.pk, receiver.url)
    delivery_id = due_delivery(endpoint, "evt_retry")

    waits_s = []
    for _ in range(webhook_delivery.MAX_DELIVERY_ATTEMPTS):
        before = timezone.now()
        delivery = webhook_delivery.deliver(delivery_id=delivery_id).delivery
        if delivery.next_attempt_at:
            waits_s.append(round((delivery.next_attempt_at - before).total_seconds()))
        WebhookDelivery.objects.filter(pk=delivery_id, status="pending").update(
            next_attempt_at=timezone.now()
        )
    assert waits_s == list(webhook_delivery.BACKOFF_S)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "failed",
        webhook_delivery.MAX_DELIVERY_ATTEMPTS,
        500,
    )
    assert len(receiver.received) == webhook_delivery.MAX_DELIVERY_ATTEMPTS
