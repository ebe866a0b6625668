"""The books through a dispute, in each mode: the withdrawal debits the merchant the amount (a
`chargeback`) and the provider's fee (a `chargeback_fee` of its own), a win reinstates the
amount (the fee stays), every posting balances, is tied to the dispute and shows in
`GET /api/payments/{id}/ledger` and the merchant's balance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from disputes import services
from disputes.models import Dispute
from ledger import selectors as ledger_selectors
from routing.interface import DisputeEventKind as Kind
from tests.conftest import client_for
from tests.disputes.conftest import payable_minor
from tests.disputes.factories import notice

pytestmark = pytest.mark.django_db
FEE = 1500
MODES = [pytest.param(False, id="test"), pytest.param(True, id="live")]


def _ledger(merchant, payment) -> dict:
    key = merchant.live_secret if payment.livemode else merchant.secret
    response = client_for(key).get(f"/api/payments/{payment.id}/ledger")
    assert response.status_code == 200, response.content
    return response.json()


def _lines(body: dict, kind: str) -> list[tuple[str, int, int]]:
    return sorted(
        (e["account"].split(":")[0], e["debit"], e["credit"])
        for e in body["data"]
        if e["kind"] == kind
    )


def _n(payment, **fields):
    """A notice of the one dispute of `payment`."""
    return notice(payment, dispute_reference=f"du_{payment.id}", **fields)


def _open_and_withdraw(payment) -> Dispute:
    services.handle_notice(_n(payment, minutes=0))
    services.handle_notice(
        _n(
            payment,
            kind=Kind.FUNDS_WITHDRAWN,
            minutes=1,
            fee_minor=FEE,
        )
    )
    return Dispute.objects.get(provider_reference=f"du_{payment.id}")


@pytest.mark.parametrize("livemode", MODES)
def test_open_then_lost(merchant, captured, livemode):
    payment = captured(livemode=livemode, amount_minor=8_000)
    merchant_id = merchant.merchant.id
    before = payable_minor(merchant_id, livemode=livemode)

    services.handle_notice(_n(payment, minutes=0))
    assert payable_minor(merchant_id, livemode=livemode) == before  # opened: nothing moved yet
    dispute = _open_and_withdraw(payment)
    assert dispute.livemode is livemode
    assert payable_minor(merchant_id, livemode=livemode) == before - 8_000 - FEE
    body = _ledger(merchant, payment)
    assert body["balanced"] is True
    assert _lines(body, "chargeback") == [
        ("merchant_payable", 8_000, 0),
        ("psp_receivable", 0, 8_000),
    ]
    assert _lines(body, "chargeback_fee") == [
        ("merchant_payable", FEE, 0),
        ("psp_receivable", 0, FEE),
    ]

    services.handle_notice(
        _n(
            payment,
            kind=Kind.CLOSED,
            status="lost",
            minutes=9,
        )
    )
    assert Dispute.objects.get(pk=dispute.id).status == "lost"
    body = _ledger(merchant, payment)
    assert _lines(body, "chargeback_reversal") == []  # losing posts nothing more
    assert (len(_lines(body, "chargeback")), len(_lines(body, "chargeback_fee"))) == (2, 2)
    assert payable_minor(merchant_id, livemode=livemode) == before - 8_000 - FEE


@pytest.mark.parametrize("livemode", MODES)
def test_open_then_won(merchant, captured, livemode):
    payment = captured(livemode=livemode, amount_minor=8_000)
    merchant_id = merchant.merchant.id
    before = payable_minor(merchant_id, livemode=livemode)
    dispute = _open_and_withdraw(payment)
    services.handle_notice(
        _n(
            payment,
            kind=Kind.UPDATED,
            status="under_review",
            minutes=2,
        )
    )
    services.handle_notice(
        _n(
            payment,
            kind=Kind.FUNDS_REINSTATED,
            status="won",
            minutes=3,
        )
    )
    services.handle_notice(_n(payment, kind=Kind.CLOSED, status="won", minutes=4))
    assert Dispute.objects.get(pk=dispute.id).status == "won"
    body = _ledger(merchant, payment)
    assert body["balanced"] is True
    assert _lines(body, "chargeback_reversal") == [
        ("merchant_payable", 0, 8_000),
        ("psp_receivable", 8_000, 0),
    ]
    assert _lines(body, "chargeback_fee_reversal") == []  # the provider kept its fee
    assert payable_minor(merchant_id, livemode=livemode) == before - FEE  # the fee stays


def test_the_postings_are_tied_to_the_dispute_and_its_payment(captured):
    payment = captured()
    dispute = _open_and_withdraw(payment)
    posted = ledger_selectors.find_transaction(
        kind="chargeback", reference=f"{dispute.id}:withdrawal"
    )
    fee = ledger_selectors.find_transaction(
        kind="chargeback_fee", reference=f"{dispute.id}:withdrawal_fee"
    )
    assert posted is not None and posted.payment_id == payment.id
    assert fee is not None and fee.payment_id == payment.id


def test_other_mode_keys_do_not_see_the_disputes_ledger_or_the_dispute(merchant, captured):
    payment = captured(livemode=True)
    dispute = _open_and_withdraw(payment)
    test_key = client_for(merchant.secret)
    assert test_key.get(f"/api/payments/{payment.id}/ledger").status_code == 404
    assert test_key.get(f"/api/disputes/{dispute.id}").status_code == 404
    live = client_for(merchant.live_secret).get(f"/api/disputes/{dispute.id}")
    assert live.status_code == 200 and live.json()["livemode"] is True


def test_lost_by_our_clock_before_the_funds_left_books_the_withdrawal_once(merchant, captured):
    payment = captured(amount_minor=4_000)
    merchant_id = merchant.merchant.id
    before = payable_minor(merchant_id)
    services.handle_notice(_n(payment, minutes=0, fee_minor=FEE))
    Dispute.objects.filter(provider_reference=f"du_{payment.id}").update(
        evidence_due_by=timezone.now() - timedelta(seconds=1)
    )
    assert services.mark_overdue_lost() == 1
    assert payable_minor(merchant_id) == before - 4_000 - FEE

    # The provider's own notices arrive later: reconciled, nothing posted twice.
    services.handle_notice(
        _n(
            payment,
            kind=Kind.FUNDS_WITHDRAWN,
            minutes=5,
            fee_minor=FEE,
        )
    )
    services.handle_notice(_n(payment, kind=Kind.CLOSED, status="lost", minutes=6))
    dispute = Dispute.objects.get(provider_reference=f"du_{payment.id}")
    assert (dispute.status, dispute.lost_by_deadline) == ("lost", True)
    assert payable_minor(merchant_id) == before - 4_000 - FEE
    body = _ledger(merchant, payment)
    assert (len(_lines(body, "chargeback")), len(_lines(body, "chargeback_fee"))) == (2, 2)


def test_lost_by_our_clock_then_won_at_the_provider_undoes_our_withdrawal(merchant, captured):
    payment = captured(amount_minor=4_000)
    merchant_id = merchant.merchant.id
    before = payable_minor(merchant_id)
    services.handle_notice(_n(payment, minutes=0, fee_minor=FEE))
    Dispute.objects.filter(provider_reference=f"du_{payment.id}").update(
        evidence_due_by=timezone.now() - timedelta(seconds=1)
    )
    services.mark_overdue_lost()
    services.handle_notice(_n(payment, kind=Kind.CLOSED, status="won", minutes=6))
    assert Dispute.objects.get(provider_reference=f"du_{payment.id}").status == "won"
    # The provider never took anything: our withdrawal is reversed, fee included.
    assert payable_minor(merchant_id) == before
    body = _ledger(merchant, payment)
    assert body["balanced"] is True
    assert _lines(body, "chargeback_fee_reversal") == [
        ("merchant_payable", 0, FEE),
        ("psp_receivable", FEE, 0),
    ]


def test_lost_by_our_clock_after_the_withdrawal_then_won_reinstates_the_amount(merchant, captured):
    payment = captured(amount_minor=4_000)
    merchant_id = merchant.merchant.id
    before = payable_minor(merchant_id)
    dispute = _open_and_withdraw(payment)
    Dispute.objects.filter(pk=dispute.id).update(
        evidence_due_by=timezone.now() - timedelta(seconds=1)
    )
    services.mark_overdue_lost()
    assert payable_minor(merchant_id) == before - 4_000 - FEE  # nothing new on losing
    services.handle_notice(
        _n(
            payment,
            kind=Kind.FUNDS_REINSTATED,
            status="won",
            minutes=8,
        )
    )
    assert Dispute.objects.get(pk=dispute.id).status == "won"
    assert payable_minor(merchant_id) == before - FEE


def test_accepting_books_the_withdrawal_if_the_provider_has_not(merchant, captured, api):
    payment = captured(amount_minor=3_000)
    merchant_id = merchant.merchant.id
    before = payable_minor(merchant_id)
    services.handle_notice(_n(payment, minutes=0, fee_minor=FEE))
    dispute = Dispute.objects.get(provider_reference=f"du_{payment.id}")
    assert api.post(f"/api/disputes/{dispute.id}/accept").status_code == 200
    assert payable_minor(merchant_id) == before - 3_000 - FEE
    services.handle_notice(
        _n(
            payment,
            kind=Kind.FUNDS_WITHDRAWN,
            minutes=3,
            fee_minor=FEE,
        )
    )
    assert payable_minor(merchant_id) == before - 3_000 - FEE
