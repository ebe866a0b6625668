"""Money that cannot complete a collection payment is never booked to it: a QR payment reported
in another currency, by another provider than the one it was registered with, for another
amount or after it was canceled is booked as unapplied funds (Dr psp_receivable / Cr suspense
at the provider that collected it) and held for finance; a bank credit in another currency
cannot be matched to a payment by hand."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from ledger.statements import services as statements
from ledger.statements.models import LineState, StatementLine
from merchants import roles
from payments import collection, handlers
from payments.models import Payment, UnappliedFunds
from routing.interface import WebhookEvent
from tests.payments.collections import collect_bank_transfer, collect_qr, ledger_lines
from tests.payments.test_admin import staff_client

pytestmark = pytest.mark.django_db

UNAPPLIED_FUNDS = "/admin/payments/unappliedfunds/"


def _report_paid(payment: dict, *, provider: str = "sim-a", currency: str = "BRL", **data):
    handlers.on_provider_payment_event(
        WebhookEvent(
            provider=provider,
            event_id=f"evt_{payment['id']}_{provider}_{currency}",
            type="payment.succeeded",
            provider_reference=f"sa_{payment['id']}",
            amount_minor=payment["amount"],
            currency=currency,
            data={
                "qr_reference": payment["next_action"]["qr_code"]["reference"],
                "amount_paid": payment["amount"],
                **data,
            },
        )
    )


def _suspense_lines(provider: str, amount: int) -> list[tuple[str, str, int, int]]:
    return [
        ("adjustment", f"psp_receivable:provider:{provider}", amount, 0),
        ("adjustment", f"suspense:provider:{provider}", 0, amount),
    ]


def test_a_qr_payment_reported_in_its_currency_completes(api, providers):
    payment = collect_qr(api, "pix", amount=1999).json()

    _report_paid(payment, currency="brl")

    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "captured"
    assert not UnappliedFunds.objects.exists()


def test_a_qr_payment_reported_in_another_currency_is_held_not_completed(api, providers):
    payment = collect_qr(api, "pix", amount=1999).json()

    _report_paid(payment, currency="USD")

    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"
    assert ledger_lines(api, payment["id"]) == _suspense_lines("sim-a", 1999)
    [held] = UnappliedFunds.objects.all()
    assert (held.payment_id, held.currency, held.reason) == (
        payment["id"],
        "USD",
        "currency_mismatch",
    )


def test_a_qr_payment_reported_by_another_provider_is_held_at_that_provider(api, providers):
    payment = collect_qr(api, "pix", amount=1999).json()
    registered_with = Payment.objects.get(pk=payment["id"]).provider
    other = "sim-b" if registered_with == "sim-a" else "sim-a"

    _report_paid(payment, provider=other)

    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"
    assert ledger_lines(api, payment["id"]) == _suspense_lines(other, 1999)
    assert UnappliedFunds.objects.get().reason == "other_provider"


def test_a_qr_code_paid_after_the_merchant_canceled_it_is_held_once(api, providers):
    payment = collect_qr(api, "pix", amount=1999).json()
    canceled = api.post(f"/api/payments/{payment['id']}/cancel", {}, format="json")
    assert canceled.json()["status"] == "canceled"

    _report_paid(payment)
    _report_paid(payment)  # the provider delivers its webhook again

    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "canceled"
    assert ledger_lines(api, payment["id"]) == _suspense_lines("sim-a", 1999)
    [held] = UnappliedFunds.objects.all()
    assert (held.reason, held.amount_minor, held.resolved_at) == ("not_open", 1999, None)


def test_returning_held_money_reverses_its_booking_once(api, providers):
    payment = collect_qr(api, "pix", amount=1999).json()
    _report_paid(payment, amount_paid=2500)
    held = UnappliedFunds.objects.get()

    collection.resolve_unapplied_funds(held_id=held.pk, username="fin.anna")
    collection.resolve_unapplied_funds(held_id=held.pk, username="fin.anna")

    held.refresh_from_db()
    assert (held.reason, held.resolved_by) == ("amount_mismatch", "fin.anna")
    assert held.resolved_at is not None
    assert ledger_lines(api, payment["id"]) == [
        *_suspense_lines("sim-a", 2500),
        ("adjustment", "psp_receivable:provider:sim-a", 0, 2500),
        ("adjustment", "suspense:provider:sim-a", 2500, 0),
    ]


def test_a_bank_credit_in_another_currency_cannot_be_matched_by_hand(api):
    payment = collect_bank_transfer(api, amount=5000).json()
    result = statements.record_synthetic_credit(
        livemode=False,
        amount_minor=5000,
        currency="USD",
        reference=payment["next_action"]["bank_transfer_instructions"]["reference"],
        payer_name="Jane Doe",
    )
    line = StatementLine.objects.get(statement_id=result.statement_id)
    assert line.state == LineState.MANUAL_QUEUE

    with pytest.raises(DomainError) as refused:
        statements.match_line_manually(line_id=line.pk, payment_id=payment["id"], username="fin")

    assert (refused.value.code, refused.value.param) == ("currency_mismatch", "currency")
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"
    assert ledger_lines(api, payment["id"]) == []


def test_finance_sees_held_money_in_the_admin_and_marks_it_returned(api, providers):
    payment = collect_qr(api, "pix", amount=1999).json()
    _report_paid(payment, currency="USD")
    held = UnappliedFunds.objects.get()
    support, finance = staff_client(roles.SUPPORT), staff_client(roles.FINANCE)

    listed = support.get(UNAPPLIED_FUNDS)
    assert listed.status_code == 200
    page = listed.content.decode()
    assert payment["id"] in page and "mark_returned" not in page  # support sees, cannot act
    response = finance.post(
        UNAPPLIED_FUNDS, {"action": "mark_returned", "_selected_action": [held.pk]}
    )

    assert response.status_code == 302
    held.refresh_from_db()
    assert held.resolved_by == finance.username and held.resolved_at is not None
    assert ledger_lines(api, payment["id"])[2:] == [
        ("adjustment", "psp_receivable:provider:sim-a", 0, 1999),
        ("adjustment", "suspense:provider:sim-a", 1999, 0),
    ]
