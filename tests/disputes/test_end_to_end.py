"""Each dispute test card end to end over real HTTP: a live Django server, the live PSP
simulator sending its signed dispute webhooks to it, and the merchant's own webhook endpoint.

capture → the simulator disputes the payment → our dispute (and its ledger withdrawal) →
evidence submitted over the API → the simulator decides → won (amount reinstated, fee kept) or
lost; the payment's ledger is checked at each step, and the merchant hears dispute.created,
dispute.updated and dispute.closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from routing.simulator.webhooks import DEFAULT_WEBHOOK_SECRET
from tests.conftest import make_merchant

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FRAUDULENT = "4000000000000259"
NOT_RECEIVED = "4000000000002685"
INQUIRY = "4000000000001976"
AMOUNT = 10_000
WAIT_S = 15.0


@pytest.fixture
def shop(live_server, providers, sim, webhook_receiver):
    """A merchant with keys and a webhook endpoint, the simulator posting to the live server."""
    sim.set_webhook(f"{live_server.url}/api/webhooks/{{provider}}", [DEFAULT_WEBHOOK_SECRET])
    fee_minor = 1500
    for provider in sim.providers:
        sim.control(provider, dispute_delay_s=0.2, dispute_fee_minor=fee_minor)
    keys = make_merchant("Dispute E2E Shop")
    secret = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {keys.secret}"}, timeout=30
    )
    publishable = httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {keys.publishable}"},
        timeout=30,
    )
    endpoint = secret.post(
        "/api/webhook-endpoints",
        json={
            "url": webhook_receiver.url.replace("{provider}", "merchant"),
            "enabled_events": ["dispute.created", "dispute.updated", "dispute.closed"],
        },
    )
    assert endpoint.status_code == 201, endpoint.text
    yield Shop(secret=secret, publishable=publishable, fee_minor=fee_minor)
    _quiesce(sim)
    secret.close()
    publishable.close()


def _quiesce(sim) -> None:
    """Let the simulator deliver what it still has for us (a dispute.closed follows the state
    the test waited for), then stop it posting: the live server's database is flushed next."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        pending = [
            e for p in sim.providers for e in sim.events(p) if not e["delivered"] and e["url"]
        ]
        if not pending:
            break
        time.sleep(0.1)
    sim.set_webhook("http://127.0.0.1:9/{provider}", [DEFAULT_WEBHOOK_SECRET])
    sim.reset()


class Shop:
    def __init__(self, *, secret: httpx.Client, publishable: httpx.Client, fee_minor: int):
        self.secret, self.publishable, self.fee_minor = secret, publishable, fee_minor

    def captured_payment(self, number: str) -> str:
        card = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
        token = self.publishable.post("/api/tokens", json={"card": card})
        assert token.status_code == 201, token.text
        payment = self.secret.post(
            "/api/payments",
            json={
                "token": token.json()["id"],
                "amount": AMOUNT,
                "currency": "EUR",
                "capture": True,
            },
        )
        assert payment.status_code == 201, payment.text
        assert payment.json()["status"] == "captured"
        return payment.json()["id"]

    def dispute_of(self, payment_id: str, until: Callable[[dict], bool]) -> dict[str, Any]:
        """The payment's dispute once `until(dispute)` holds (polled, bounded)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            found = self.secret.get("/api/disputes", params={"payment": payment_id}).json()["data"]
            if found and until(found[0]):
                assert len(found) == 1
                return found[0]
            assert time.monotonic() < deadline, f"dispute never got there: {found}"
            time.sleep(0.1)

    def ledger(self, payment_id: str) -> dict[str, list[tuple[str, int, int]]]:
        body = self.secret.get(f"/api/payments/{payment_id}/ledger").json()
        assert body["balanced"] is True
        lines: dict[str, list[tuple[str, int, int]]] = {}
        for entry in body["data"]:
            account_kind = entry["account"].split(":")[0]
            lines.setdefault(entry["kind"], []).append(
                (account_kind, entry["debit"], entry["credit"])
            )
        return {kind: sorted(found) for kind, found in lines.items()}

    def submit(self, dispute_id: str, verdict: str) -> dict[str, Any]:
        response = self.secret.post(
            f"/api/disputes/{dispute_id}/evidence",
            json={
                "evidence": {
                    "customer_communication": "The customer confirmed receipt by email.",
                    "uncategorized_text": verdict,
                },
                "submit": True,
            },
            headers={"Idempotency-Key": f"evidence-{dispute_id}-{verdict}"},
        )
        assert response.status_code == 200, response.text
        return response.json()


WITHDRAWAL_KINDS = ("chargeback", "chargeback_fee")


def _withdrawal(fee_minor: int) -> dict[str, list[tuple[str, int, int]]]:
    """A withdrawal's lines: the amount's `chargeback`, the fee's own `chargeback_fee`."""
    return {
        "chargeback": [("merchant_payable", AMOUNT, 0), ("psp_receivable", 0, AMOUNT)],
        "chargeback_fee": [("merchant_payable", fee_minor, 0), ("psp_receivable", 0, fee_minor)]
        if fee_minor
        else [],
    }


def _withdrawal_in(ledger: dict[str, list[tuple[str, int, int]]]) -> dict[str, list]:
    return {kind: ledger.get(kind, []) for kind in WITHDRAWAL_KINDS}


def _merchant_heard(receiver, dispute_id: str, wanted: set[str]) -> set[str]:
    heard: set[str] = set()
    deadline = time.monotonic() + WAIT_S
    while not wanted <= heard and time.monotonic() < deadline:
        for webhook in receiver.wait(1, timeout_s=max(0.1, deadline - time.monotonic())):
            body = webhook.json()
            if body["data"]["object"]["id"] == dispute_id:
                heard.add(body["type"])
    return heard


def test_fraudulent_card_dispute_won_with_evidence(shop, webhook_receiver):
    payment_id = shop.captured_payment(FRAUDULENT)
    assert shop.ledger(payment_id)["capture"]  # captured: the merchant is owed the amount
    dispute = shop.dispute_of(payment_id, until=lambda d: d["funds_withdrawn"])
    assert (dispute["status"], dispute["reason"], dispute["amount"]) == (
        "needs_response",
        "fraudulent",
        AMOUNT,
    )
    assert dispute["fee"] == shop.fee_minor
    assert _withdrawal_in(shop.ledger(payment_id)) == _withdrawal(shop.fee_minor)

    submitted = shop.submit(dispute["id"], "winning_evidence")
    assert submitted["status"] in ("under_review", "won")
    assert submitted["evidence_details"]["submitted"] is True

    won = shop.dispute_of(payment_id, until=lambda d: d["status"] == "won")
    assert won["funds_reinstated"] is True
    ledger = shop.ledger(payment_id)
    assert _withdrawal_in(ledger) == _withdrawal(shop.fee_minor)
    assert ledger["chargeback_reversal"] == [
        ("merchant_payable", 0, AMOUNT),
        ("psp_receivable", AMOUNT, 0),
    ]
    heard = _merchant_heard(
        webhook_receiver, dispute["id"], {"dispute.created", "dispute.updated", "dispute.closed"}
    )
    assert heard == {"dispute.created", "dispute.updated", "dispute.closed"}


def test_product_not_received_card_dispute_lost_with_losing_evidence(shop):
    payment_id = shop.captured_payment(NOT_RECEIVED)
    dispute = shop.dispute_of(payment_id, until=lambda d: d["funds_withdrawn"])
    assert (dispute["status"], dispute["reason"]) == ("needs_response", "product_not_received")
    assert _withdrawal_in(shop.ledger(payment_id)) == _withdrawal(shop.fee_minor)

    shop.submit(dispute["id"], "losing_evidence")
    lost = shop.dispute_of(payment_id, until=lambda d: d["status"] == "lost")
    assert (lost["funds_reinstated"], lost["lost_by_deadline"]) == (False, False)
    ledger = shop.ledger(payment_id)
    assert _withdrawal_in(ledger) == _withdrawal(shop.fee_minor)
    assert "chargeback_reversal" not in ledger
    # Read-only once submitted.
    again = shop.secret.post(
        f"/api/disputes/{dispute['id']}/evidence",
        json={"evidence": {"uncategorized_text": "winning_evidence"}},
    )
    assert again.status_code == 400


def test_inquiry_card_closed_with_winning_evidence_moves_no_money(shop):
    payment_id = shop.captured_payment(INQUIRY)
    inquiry = shop.dispute_of(payment_id, until=lambda d: d["status"] == "warning_needs_response")
    assert inquiry["funds_withdrawn"] is False
    assert "chargeback" not in shop.ledger(payment_id)

    submitted = shop.submit(inquiry["id"], "winning_evidence")
    assert submitted["status"] in ("warning_under_review", "warning_closed")
    closed = shop.dispute_of(payment_id, until=lambda d: d["status"] == "warning_closed")
    assert closed["funds_withdrawn"] is False
    assert "chargeback" not in shop.ledger(payment_id)


def test_inquiry_card_lost_escalates_to_a_chargeback_that_takes_the_funds(shop):
    payment_id = shop.captured_payment(INQUIRY)
    inquiry = shop.dispute_of(payment_id, until=lambda d: d["status"] == "warning_needs_response")
    shop.submit(inquiry["id"], "losing_evidence")
    escalated = shop.dispute_of(
        payment_id, until=lambda d: d["status"] == "needs_response" and d["funds_withdrawn"]
    )
    assert escalated["evidence_details"]["submitted"] is False  # the chargeback needs its own
    assert _withdrawal_in(shop.ledger(payment_id)) == _withdrawal(shop.fee_minor)

    shop.submit(escalated["id"], "winning_evidence")
    shop.dispute_of(payment_id, until=lambda d: d["status"] == "won")
    assert shop.ledger(payment_id)["chargeback_reversal"] == [
        ("merchant_payable", 0, AMOUNT),
        ("psp_receivable", AMOUNT, 0),
    ]


def test_evidence_the_provider_refuses_leaves_the_dispute_open(shop, sim):
    payment_id = shop.captured_payment(FRAUDULENT)
    dispute = shop.dispute_of(payment_id, until=lambda d: d["funds_withdrawn"])
    provider = shop.secret.get(f"/api/payments/{payment_id}").json()["provider"]
    sim.control(provider, outage=True)
    refused = shop.secret.post(
        f"/api/disputes/{dispute['id']}/evidence",
        json={"evidence": {"uncategorized_text": "winning_evidence"}, "submit": True},
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "evidence_refused"
    sim.control(provider, outage=False)
    still = shop.secret.get(f"/api/disputes/{dispute['id']}").json()
    assert (still["status"], still["evidence_details"]["submitted"]) == ("needs_response", False)
    assert still["evidence"] == {"uncategorized_text": "winning_evidence"}  # kept as a draft
    assert shop.submit(dispute["id"], "winning_evidence")["evidence_details"]["submitted"]
