"""Outgoing webhooks: signed with the endpoint's secret, retried with backoff, sent only after
the change commits."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from merchants import delivery as webhook_delivery
from merchants import services, webhooks
from merchants.models import WebhookDelivery
from merchants.tasks import redeliver_webhooks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def endpoint(merchant, webhook_receiver):
    return services.create_webhook_endpoint(
        merchant_id=merchant.merchant.pk,
        livemode=False,
        url=webhook_receiver.url.replace("{provider}", "merchant"),
        enabled_events=["payment.captured"],
    )


def test_event_is_delivered_signed_after_commit(merchant, endpoint, webhook_receiver):
    with transaction.atomic():
        webhooks.emit_event(
            merchant_id=merchant.merchant.pk,
            livemode=False,
            event_type="payment.captured",
            data={"id": "pay_1", "amount": 100},
        )
        assert WebhookDelivery.objects.get().attempts == 0  # nothing leaves before the commit
    request = webhook_receiver.wait(1)[0]
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "payment.captured"
    assert payload["data"]["object"] == {"id": "pay_1", "amount": 100}
    assert WebhookDelivery.objects.get().status == "delivered"


def test_rolled_back_change_sends_nothing(merchant, endpoint, webhook_receiver):
    with pytest.raises(RuntimeError), transaction.atomic():
        webhooks.emit_event(
            merchant_id=merchant.merchant.pk, livemode=False, event_type="payment.captured", data={}
        )
        raise RuntimeError("the payment change failed")
    assert WebhookDelivery.objects.count() == 0


def test_unsubscribed_events_and_other_modes_are_not_sent(merchant, endpoint):
    assert (
        webhooks.emit_event(
            merchant_id=merchant.merchant.pk, livemode=False, event_type="payment.failed", data={}
        )
        == []
    )
    assert (
        webhooks.emit_event(
            merchant_id=merchant.merchant.pk, livemode=True, event_type="payment.captured", data={}
        )
        == []
    )


def test_failed_delivery_backs_off_then_gives_up(merchant):
    dead = services.create_webhook_endpoint(
        merchant_id=merchant.merchant.pk,
        livemode=False,
        url="http://127.0.0.1:9/unreachable",
        enabled_events=["*"],
    )
    [delivery_id] = webhooks.emit_event(
        merchant_id=dead.merchant_id, livemode=False, event_type="payment.captured", data={}
    )
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=5)
    assert delivery.last_error
    for _ in range(webhook_delivery.MAX_DELIVERY_ATTEMPTS):
        WebhookDelivery.objects.filter(pk=delivery_id, status="pending").update(
            next_attempt_at=timezone.now()
        )
        redeliver_webhooks()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (
        "failed",
        webhook_delivery.MAX_DELIVERY_ATTEMPTS,
    )
