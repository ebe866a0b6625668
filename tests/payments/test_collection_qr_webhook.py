"""A QR payment completes through the provider's webhook: the customer pays the code at the
simulator, which sends its signed `payment.succeeded` to the live server; the payment ends
`captured` with its ledger entries and its outgoing `payment.captured` webhook."""

from __future__ import annotations

import time

import pytest

from payments.models import Payment, UnappliedFunds
from routing.models import Attempt, IncomingEvent
from tests.fixtures.simulator import WEBHOOK_SECRET
from tests.payments.collections import (
    collect_qr,
    ledger_lines,
    subscribe_to_everything,
    webhook_events,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIVE_WAIT_S = 10.0


@pytest.fixture
def webhooks_to_live_server(live_server, providers, sim):
    sim.set_webhook(f"{live_server.url}/api/webhooks/{{provider}}", [WEBHOOK_SECRET])
    return sim


def _scan(sim, reference: str, **body):
    return sim.client.post(f"/_control/sim-a/qr/{reference}/scan", json=body)


def _wait_for_event(count: int = 1) -> None:
    deadline = time.monotonic() + LIVE_WAIT_S
    while time.monotonic() < deadline:
        done = IncomingEvent.objects.filter(status__in=["processed", "failed", "ignored"])
        if done.count() >= count:
            return
        time.sleep(0.05)
    raise AssertionError("the simulator's webhook was not processed in time")


def test_a_qr_code_paid_at_the_simulator_captures_the_payment(
    api, merchant, webhooks_to_live_server
):
    sim = webhooks_to_live_server
    subscribe_to_everything(merchant.merchant.pk)
    payment = collect_qr(api, "pix", amount=1999).json()

    scanned = _scan(sim, payment["next_action"]["qr_code"]["reference"])
    assert scanned.status_code == 200, scanned.text
    _wait_for_event()

    paid = api.get(f"/api/payments/{payment['id']}").json()
    assert (paid["status"], paid["amount_captured"]) == ("captured", 1999)
    assert paid["next_action"] is None
    lines = ledger_lines(api, payment["id"])
    assert ("capture", "psp_receivable:provider:sim-a", 1999, 0) in lines
    assert ("capture", "merchant_payable:merchant:" + merchant.merchant.pk, 0, 1999) in lines
    assert webhook_events(payment["id"]) == [
        ("payment.requires_action", "requires_action"),
        ("payment.captured", "captured"),
    ]
    assert Attempt.objects.get(pk=Payment.objects.get(pk=payment["id"]).attempt_id).outcome == (
        "approved"
    )


def test_a_qr_payment_can_be_refunded_through_the_provider_once_paid(api, webhooks_to_live_server):
    sim = webhooks_to_live_server
    payment = collect_qr(api, "paynow", amount=3000).json()
    _scan(sim, payment["next_action"]["qr_code"]["reference"])
    _wait_for_event()

    refund = api.post(f"/api/payments/{payment['id']}/refund", {"amount": 1000}, format="json")

    assert refund.status_code == 200, refund.content
    [record] = sim.records("sim-a")
    assert (record["amount_captured"], record["amount_refunded"]) == (3000, 1000)


def test_a_code_paid_with_another_amount_is_held_as_unapplied_funds(api, webhooks_to_live_server):
    sim = webhooks_to_live_server
    payment = collect_qr(api, "pix", amount=1999).json()

    _scan(sim, payment["next_action"]["qr_code"]["reference"], amount=1000)
    _wait_for_event()

    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"
    assert ledger_lines(api, payment["id"]) == [
        ("adjustment", "psp_receivable:provider:sim-a", 1000, 0),
        ("adjustment", "suspense:provider:sim-a", 0, 1000),
    ]
    [held] = UnappliedFunds.objects.filter(payment_id=payment["id"])
    assert (held.provider, held.amount_minor, held.currency, held.reason) == (
        "sim-a",
        1000,
        "BRL",
        "amount_mismatch",
    )
    assert held.resolved_at is None


def test_a_code_cannot_be_paid_twice(api, webhooks_to_live_server):
    sim = webhooks_to_live_server
    reference = collect_qr(api, "pix").json()["next_action"]["qr_code"]["reference"]

    first, second = _scan(sim, reference), _scan(sim, reference)

    assert (first.status_code, second.status_code) == (200, 400)
    _wait_for_event()  # the first scan's webhook is done before the database is flushed


def test_simulate_payment_pays_a_qr_payment_through_the_simulators_webhook(
    api, webhooks_to_live_server
):
    payment = collect_qr(api, "upi", amount=25_000).json()

    response = api.post(
        f"/api/test_helpers/payments/{payment['id']}/simulate_payment", {}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["amount_captured"]) == ("captured", 25_000)
    [event] = webhooks_to_live_server.events("sim-a")
    assert event["event"]["data"]["qr_reference"] == payment["next_action"]["qr_code"]["reference"]
    assert event["delivered"]
