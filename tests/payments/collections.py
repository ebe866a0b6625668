"""Helpers for the bank-transfer and QR payment tests: create them over the API, subscribe the
merchant to every webhook, read a payment's ledger and outgoing webhooks."""

from __future__ import annotations

from urllib.parse import urlsplit

from merchants.models import WebhookDelivery, WebhookEndpoint

SCHEME_CURRENCIES = {
    "pix": "brl",
    "paynow": "sgd",
    "promptpay": "thb",
    "upi": "inr",
    "emvco": "eur",
}


def collect_bank_transfer(api, *, amount: int = 4200, currency: str = "eur", **extra):
    body = {"payment_method": {"type": "bank_transfer"}, "amount": amount, "currency": currency}
    return api.post("/api/payments", {**body, **extra}, format="json")


def collect_qr(api, scheme: str = "pix", *, amount: int = 4200, currency: str | None = None):
    body = {
        "payment_method": {"type": "qr", "scheme": scheme},
        "amount": amount,
        "currency": currency or SCHEME_CURRENCIES[scheme],
    }
    return api.post("/api/payments", body, format="json")


def subscribe_to_everything(merchant_id: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        merchant_id=merchant_id,
        livemode=False,
        url="https://hooks.example.com/qr",
        enabled_events=["*"],
        secret="whsec_test",
        active=True,
    )


def webhook_events(payment_id: str) -> list[tuple[str, str]]:
    """(event type, payment status in its payload) of each webhook queued for the payment."""
    return [
        (delivery.event_type, delivery.payload["data"]["object"]["status"])
        for delivery in WebhookDelivery.objects.filter(
            payload__data__object__id=payment_id
        ).order_by("created", "id")
    ]


def ledger_lines(api, payment_id: str) -> list[tuple[str, str, int, int]]:
    """(transaction kind, account, debit, credit) of the payment's ledger entries."""
    response = api.get(f"/api/payments/{payment_id}/ledger")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["balanced"]
    return [(e["kind"], e["account"], e["debit"], e["credit"]) for e in body["data"]]


def path_of(url: str) -> str:
    return urlsplit(url).path
