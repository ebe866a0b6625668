"""A payment's webhooks go to the endpoints read with the payment under its lock: the booking
statement that locks the payment (or, for a new sale, the one that saves it if it is still as
its creator stored it) brings the merchant's active endpoints along, and no other statement
looks them up."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from merchants import selectors
from merchants.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import make_merchant

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/qr"


def _endpoint(merchant_id: str, events: list[str], *, livemode=False, active=True):
    return WebhookEndpoint.objects.create(
        merchant_id=merchant_id,
        livemode=livemode,
        url=URL,
        enabled_events=events,
        secret="whsec_test",
        active=active,
    )


def _endpoint_statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "merchants_webhookendpoint" in q["sql"]]


def test_a_sale_queues_its_events_for_the_merchant_s_active_endpoints(merchant, pay):
    merchant_id = merchant.merchant.pk
    everything = _endpoint(merchant_id, ["*"])
    captures = _endpoint(merchant_id, ["payment.captured"])
    _endpoint(merchant_id, ["payment.failed"])  # wants neither event
    _endpoint(merchant_id, ["*"], active=False)
    _endpoint(merchant_id, ["*"], livemode=True)
    _endpoint(make_merchant("Someone Else").merchant.pk, ["*"])

    with CaptureQueriesContext(connection) as queries:
        sold = pay(amount=2300, capture=True).json()
    assert sold["status"] == "captured"

    deliveries = sorted(
        (d.event_type, d.endpoint_id)
        for d in WebhookDelivery.objects.filter(payload__data__object__id=sold["id"])
    )
    assert deliveries == sorted(
        [
            ("payment.authorized", everything.id),
            ("payment.captured", everything.id),
            ("payment.captured", captures.id),
        ]
    )
    captured = WebhookDelivery.objects.get(event_type="payment.captured", endpoint=captures)
    assert captured.payload["data"]["object"]["status"] == "captured"
    # One look at the endpoints (merchants' own read) for both events of the booking.
    (statement,) = _endpoint_statements(queries)
    assert statement.startswith("SELECT") and '"payments"' not in statement


def test_without_endpoints_nothing_is_queued_and_nothing_else_is_read(merchant, pay):
    with CaptureQueriesContext(connection) as queries:
        sold = pay(amount=2400, capture=True).json()
    assert sold["status"] == "captured"
    assert WebhookDelivery.objects.count() == 0
    assert len(_endpoint_statements(queries)) == 1


def test_a_capture_call_uses_the_endpoints_read_with_its_own_lock(merchant, api, pay):
    authorized = pay(amount=2500).json()
    endpoint = _endpoint(merchant.merchant.pk, ["payment.captured"])  # created in between
    with CaptureQueriesContext(connection) as queries:
        captured = api.post(f"/api/payments/{authorized['id']}/capture", {}, format="json")
    assert captured.status_code == 200, captured.content
    assert WebhookDelivery.objects.get().endpoint_id == endpoint.id
    assert len(_endpoint_statements(queries)) == 1


def test_subscribers_on_their_own_are_the_active_endpoints_newest_first(merchant):
    merchant_id = merchant.merchant.pk
    first = _endpoint(merchant_id, ["payment.captured", "payment.refunded"])
    second = _endpoint(merchant_id, ["*"])
    _endpoint(merchant_id, ["*"], active=False)
    found = selectors.subscribers(merchant_id=merchant_id, livemode=False)
    assert [(s.endpoint_id, s.enabled_events) for s in found] == [
        (second.id, ("*",)),
        (first.id, ("payment.captured", "payment.refunded")),
    ]
    assert found[1].subscribes_to("payment.refunded")
    assert not found[1].subscribes_to("payment.failed")
    assert found[0].subscribes_to("payment.failed")
    assert selectors.subscribers(merchant_id=merchant_id, livemode=True) == []
