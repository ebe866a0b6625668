"""End to end over real HTTP: a live Django server (threaded WSGI) and the live PSP simulator.

tokenize → authorize → partial capture → two refunds → the payment's ledger balances and
matches its amounts, and the simulator holds exactly one authorization for it.
"""

import httpx
import pytest

from tests.conftest import make_merchant

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_tokenize_authorize_capture_refund_twice(live_server, providers):
    keys = make_merchant("E2E Shop")
    secret = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {keys.secret}"}, timeout=30
    )
    publishable = httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {keys.publishable}"},
        timeout=30,
    )

    token = publishable.post(
        "/api/tokens",
        json={
            "card": {
                "number": "4242 4242 4242 4242",
                "exp_month": 11,
                "exp_year": 2031,
                "cvc": "314",
            }
        },
    )
    assert token.status_code == 201, token.text
    token_id = token.json()["id"]

    created = secret.post(
        "/api/payments",
        json={"token": token_id, "amount": 12_000, "currency": "EUR"},
        headers={"Idempotency-Key": "e2e-order-1"},
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["status"] == "authorized"
    assert created.headers["Request-Id"].startswith("req_")

    captured = secret.post(f"/api/payments/{payment['id']}/capture", json={"amount": 10_000})
    assert captured.status_code == 200, captured.text
    assert captured.json()["amount_captured"] == 10_000

    for amount, key in ((2500, "e2e-refund-1"), (1500, "e2e-refund-2")):
        refund = secret.post(
            f"/api/payments/{payment['id']}/refund",
            json={"amount": amount, "reason": "requested_by_customer"},
            headers={"Idempotency-Key": key},
        )
        assert refund.status_code == 200, refund.text
        assert refund.json()["amount"] == amount

    final = secret.get(f"/api/payments/{payment['id']}").json()
    assert final["status"] == "partially_refunded"
    assert (final["amount_captured"], final["amount_refunded"], final["amount_capturable"]) == (
        10_000,
        4000,
        0,
    )

    ledger = secret.get(f"/api/payments/{payment['id']}/ledger").json()
    assert ledger["balanced"] is True
    debits = sum(entry["debit"] for entry in ledger["data"])
    credits = sum(entry["credit"] for entry in ledger["data"])
    assert debits == credits
    kinds = [entry["kind"] for entry in ledger["data"]]
    assert kinds.count("refund") == 4  # two refunds, two entries each

    def net(account_prefix: str) -> int:
        return sum(
            entry["credit"] - entry["debit"]
            for entry in ledger["data"]
            if entry["account"].startswith(account_prefix)
        )

    assert net("merchant_payable") == 10_000 - 4000
    assert net("merchant_pending") == 0  # the hold is fully released

    records = [
        record
        for provider in ("sim-a", "sim-b")
        for record in providers.records(provider)
        if record["id"] == final["provider_reference"]
    ]
    assert len(records) == 1
    assert records[0]["amount_captured"] == 10_000
    assert records[0]["amount_refunded"] == 4000
