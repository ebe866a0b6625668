"""POST /api/test_helpers/payments/{id}/simulate_payment in test mode: a bank transfer is paid
by a synthetic statement credit through the same matcher as an imported statement. 404 with a
live key; only open bank-transfer and QR payments can be paid."""

from __future__ import annotations

import pytest

from tests.conftest import client_for
from tests.payments.collections import (
    collect_bank_transfer,
    ledger_lines,
    subscribe_to_everything,
    webhook_events,
)

pytestmark = pytest.mark.django_db


def _simulate(api, payment_id: str, **body):
    return api.post(
        f"/api/test_helpers/payments/{payment_id}/simulate_payment", body, format="json"
    )


def test_simulate_payment_pays_a_bank_transfer_through_the_statement_matcher(
    api, merchant, settings
):
    subscribe_to_everything(merchant.merchant.pk)
    payment = collect_bank_transfer(api, amount=4250).json()

    response = _simulate(api, payment["id"], payer_name="Ada Lovelace")

    assert response.status_code == 200, response.content
    paid = response.json()
    assert (paid["status"], paid["amount_captured"], paid["next_action"]) == (
        "captured",
        4250,
        None,
    )
    iban = settings.COLLECTION_ACCOUNTS["test"]["iban"]
    assert sorted(ledger_lines(api, payment["id"])) == [
        ("capture", f"bank:bank:{iban}", 4250, 0),
        ("capture", f"merchant_payable:merchant:{merchant.merchant.pk}", 0, 4250),
    ]
    assert webhook_events(payment["id"]) == [
        ("payment.requires_action", "requires_action"),
        ("payment.captured", "captured"),
    ]


def test_a_bank_transfer_of_another_amount_does_not_complete_the_payment(api):
    payment = collect_bank_transfer(api, amount=4250).json()

    response = _simulate(api, payment["id"], amount=4000)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "requires_action"
    assert ledger_lines(api, payment["id"]) == []


def test_a_paid_payment_cannot_be_paid_again(api):
    payment = collect_bank_transfer(api).json()
    assert _simulate(api, payment["id"]).status_code == 200

    again = _simulate(api, payment["id"])

    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_invalid_state"


def test_a_card_payment_cannot_be_simulated(api, pay):
    card_payment = pay(amount=1000).json()

    response = _simulate(api, card_payment["id"])

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_method_unsupported"


def test_simulate_payment_is_404_in_live_mode(merchant, settings):
    settings.COLLECTION_ACCOUNTS = {
        **settings.COLLECTION_ACCOUNTS,
        "live": settings.COLLECTION_ACCOUNTS["test"],
    }
    live = client_for(merchant.live_secret)
    payment = collect_bank_transfer(live).json()

    response = _simulate(live, payment["id"])

    assert response.status_code == 404
    assert live.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"


def test_another_merchants_payment_is_404(api, other_merchant):
    theirs = collect_bank_transfer(client_for(other_merchant.secret)).json()

    assert _simulate(api, theirs["id"]).status_code == 404


def test_a_paid_bank_transfer_cannot_be_refunded_through_a_provider(api):
    payment = collect_bank_transfer(api).json()
    _simulate(api, payment["id"])

    response = api.post(f"/api/payments/{payment['id']}/refund", {}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "refund_unsupported"
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "captured"
