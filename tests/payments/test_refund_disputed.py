"""A refund never gives back money a dispute already took: while a chargeback has withdrawn the
funds the refund is refused (400 `charge_disputed`) before the provider is asked, and the books
stay as they were; once the dispute is won and the funds reinstated, the refund goes through."""

from __future__ import annotations

import pytest

from disputes import services as disputes
from payments.models import Payment
from routing.interface import DisputeEventKind as Kind
from tests.disputes.factories import notice
from tests.payments.conftest import ledger_of

pytestmark = pytest.mark.django_db
FEE_MINOR = 1500


def _captured(api, pay, amount: int) -> Payment:
    created = pay(amount=amount).json()
    response = api.post(f"/api/payments/{created['id']}/capture", {}, format="json")
    assert response.status_code == 200, response.content
    return Payment.objects.get(pk=created["id"])


def _dispute(payment: Payment, kind: Kind, *, minutes: int, amount_minor: int, **fields) -> None:
    disputes.handle_notice(
        notice(
            payment,
            kind=kind,
            minutes=minutes,
            amount_minor=amount_minor,
            dispute_reference=f"du_{payment.id}",
            **fields,
        )
    )


def _withdrawn(payment: Payment, amount_minor: int) -> None:
    _dispute(payment, Kind.OPENED, minutes=0, amount_minor=amount_minor)
    _dispute(
        payment, Kind.FUNDS_WITHDRAWN, minutes=1, amount_minor=amount_minor, fee_minor=FEE_MINOR
    )


def _provider_refunds(sim, payment: Payment) -> list[dict]:
    [authorization] = [
        a for a in sim.records(payment.provider) if a["id"] == payment.provider_reference
    ]
    return authorization["refunds"]


def test_a_payment_whose_funds_a_dispute_withdrew_cannot_be_refunded(api, pay, sim):
    payment = _captured(api, pay, 6_000)
    _withdrawn(payment, 6_000)
    books = ledger_of(api, payment.id)

    for body in ({}, {"amount": 1}):
        response = api.post(f"/api/payments/{payment.id}/refund", body, format="json")
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "charge_disputed")
        assert "disputed" in error["message"]

    assert _provider_refunds(sim, payment) == []
    assert ledger_of(api, payment.id) == books
    shown = api.get(f"/api/payments/{payment.id}").json()
    assert (shown["status"], shown["amount_refunded"]) == ("captured", 0)


def test_only_what_a_partial_dispute_left_can_be_refunded(api, pay, sim):
    payment = _captured(api, pay, 10_000)
    _withdrawn(payment, 4_000)

    too_much = api.post(f"/api/payments/{payment.id}/refund", {"amount": 6_001}, format="json")
    assert too_much.json()["error"]["code"] == "charge_disputed"
    rest = api.post(f"/api/payments/{payment.id}/refund", {"amount": 6_000}, format="json")
    assert rest.status_code == 200, rest.content
    assert [r["amount"] for r in _provider_refunds(sim, payment)] == [6_000]
    shown = api.get(f"/api/payments/{payment.id}").json()
    assert (shown["status"], shown["amount_refunded"]) == ("partially_refunded", 6_000)


def test_a_won_dispute_makes_the_payment_refundable_again(api, pay, sim):
    payment = _captured(api, pay, 6_000)
    _withdrawn(payment, 6_000)
    assert api.post(f"/api/payments/{payment.id}/refund", {}, format="json").status_code == 400

    _dispute(payment, Kind.FUNDS_REINSTATED, minutes=2, amount_minor=6_000, status="won")

    response = api.post(f"/api/payments/{payment.id}/refund", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["amount"] == 6_000
    assert [r["amount"] for r in _provider_refunds(sim, payment)] == [6_000]
    books = ledger_of(api, payment.id)
    assert books["balanced"] is True
    refund_lines = [(e["account"].split(":")[0], e["debit"], e["credit"]) for e in books["data"]
                    if e["kind"] == "refund"]  # fmt: skip
    assert sorted(refund_lines) == [("merchant_payable", 6_000, 0), ("psp_receivable", 0, 6_000)]
