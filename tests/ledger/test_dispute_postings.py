"""A payment's charged-back amount in its ledger summary — the disputed amounts withdrawn less
those reinstated (`chargeback` less `chargeback_reversal`), never the dispute fee, which is a
`chargeback_fee` / `chargeback_fee_reversal` of its own — and the refund invariant that counts
it: money a dispute took back is not refundable, at posting time nor through a reversal."""

from __future__ import annotations

import pytest
from django.db import connection

from ledger import selectors, services
from ledger.errors import LedgerIdempotencyConflict, LedgerInvalidState
from tests.ledger.conftest import unique

FEE_MINOR = 1_500


@pytest.fixture
def captured(db) -> str:
    """A payment with 10,000 captured; its id."""
    payment_id = unique("pay")
    services.place_and_capture_hold(
        payment_id=payment_id,
        hold_reference=f"{payment_id}:auth",
        capture_reference=f"{payment_id}:capture",
        merchant_id=unique("acct"),
        provider=unique("sim"),
        amount_minor=10_000,
        currency="EUR",
        livemode=False,
    )
    return payment_id


def _withdraw(
    payment_id: str, amount_minor: int, fee_minor: int = FEE_MINOR
) -> services.DisputePosting:
    return services.post_dispute_withdrawal(
        payment_id=payment_id,
        dispute_id="dp_1",
        amount_minor=amount_minor,
        fee_minor=fee_minor,
        livemode=False,
    )


def _reinstate(
    payment_id: str, amount_minor: int, fee_returned_minor: int = 0
) -> services.DisputePosting:
    return services.post_dispute_reinstatement(
        payment_id=payment_id,
        dispute_id="dp_1",
        amount_minor=amount_minor,
        fee_returned_minor=fee_returned_minor,
        livemode=False,
    )


def _refund(payment_id: str, reference: str, amount_minor: int) -> None:
    services.post_refund(
        payment_id=payment_id, reference=reference, amount_minor=amount_minor, livemode=False
    )


def _charged_back(payment_id: str) -> int:
    return selectors.payment_summary(payment_id=payment_id).charged_back_minor


def _effect(payment_id: str, posted: services.PostedTransaction | None) -> int:
    """What one posting adds to the payment's charged-back amount."""
    assert posted is not None
    return selectors.transaction_summary(
        transaction_id=posted.id, payment_id=payment_id, ts=posted.ts
    ).charged_back_minor


def _account(payment_id: str, account_kind: str) -> int:
    """The id of the payment's account of that kind (one its capture booked)."""
    entry = next(
        e
        for e in selectors.payment_entries(payment_id=payment_id)
        if e.account_kind == account_kind
    )
    return services.ensure_account(
        owner=entry.account_owner, kind=account_kind, currency=entry.currency, livemode=False
    )


def _kinds(payment_id: str) -> dict[str, int]:
    """How many entries each transaction kind booked for the payment."""
    counts: dict[str, int] = {}
    for entry in selectors.payment_entries(payment_id=payment_id):
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
    return counts


def test_the_summary_counts_the_withdrawn_amount_without_the_fee(captured):
    assert _charged_back(captured) == 0
    withdrawal = _withdraw(captured, 4_000)

    assert _charged_back(captured) == 4_000
    assert _effect(captured, withdrawal.amount) == 4_000
    assert _effect(captured, withdrawal.fee) == 0


@pytest.mark.parametrize("fee_returned_minor", [0, FEE_MINOR])
def test_a_reinstatement_gives_the_amount_back_whatever_the_fee(captured, fee_returned_minor):
    _withdraw(captured, 4_000)
    _reinstate(captured, 4_000, fee_returned_minor)

    assert _charged_back(captured) == 0


def test_a_refund_cannot_take_what_a_dispute_withdrew(captured):
    _withdraw(captured, 4_000)

    with pytest.raises(LedgerInvalidState) as info:
        _refund(captured, f"{captured}:re1", 6_001)
    assert info.value.code == "ledger_refund_exceeds_captured"
    assert "4000 charged back" in str(info.value)
    # the fee is the merchant's cost, not the customer's money: 6,000 is still refundable
    _refund(captured, f"{captured}:re2", 6_000)
    summary = selectors.payment_summary(payment_id=captured)
    assert (summary.refunded_minor, summary.charged_back_minor) == (6_000, 4_000)


def test_the_reinstated_amount_is_refundable_again(captured):
    _withdraw(captured, 10_000)
    with pytest.raises(LedgerInvalidState):
        _refund(captured, f"{captured}:re1", 1)

    _reinstate(captured, 10_000)
    _refund(captured, f"{captured}:re2", 10_000)
    assert selectors.payment_summary(payment_id=captured).refunded_minor == 10_000


def test_reversing_a_reinstatement_whose_money_was_refunded_is_refused(captured):
    withdrawal = _withdraw(captured, 10_000)
    reinstatement = _reinstate(captured, 10_000)
    _refund(captured, f"{captured}:re", 10_000)

    with pytest.raises(LedgerInvalidState) as info:
        services.reverse_transaction(
            transaction_id=reinstatement.amount.id, reference=f"{captured}:rev-reinstatement"
        )
    assert info.value.code == "ledger_reversal_breaks_invariants"
    assert "refunded + charged back <= captured" in str(info.value)
    summary = selectors.payment_summary(payment_id=captured)
    assert (summary.refunded_minor, summary.charged_back_minor) == (10_000, 0)
    assert withdrawal.amount.created and summary.balanced


def test_the_fee_is_a_posting_of_its_own_in_the_same_database_transaction(captured):
    withdrawal = _withdraw(captured, 4_000)

    assert (withdrawal.amount.kind, withdrawal.amount.reference) == (
        "chargeback",
        "dp_1:withdrawal",
    )
    assert withdrawal.fee is not None
    assert (withdrawal.fee.kind, withdrawal.fee.reference) == (
        "chargeback_fee",
        "dp_1:withdrawal_fee",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT created_xid::text FROM ledger_transactions WHERE id = ANY(%s)",
            [[withdrawal.amount.id, withdrawal.fee.id]],
        )
        assert len(cursor.fetchall()) == 1  # committed together
    entries = {
        (e.kind, e.account_kind): (e.debit_minor, e.credit_minor)
        for e in selectors.payment_entries(payment_id=captured)
    }
    assert entries[("chargeback", "merchant_payable")] == (4_000, 0)
    assert entries[("chargeback", "psp_receivable")] == (0, 4_000)
    assert entries[("chargeback_fee", "merchant_payable")] == (FEE_MINOR, 0)
    assert entries[("chargeback_fee", "psp_receivable")] == (0, FEE_MINOR)


def test_a_withdrawal_without_a_fee_posts_no_fee_transaction(captured):
    withdrawal = _withdraw(captured, 4_000, fee_minor=0)

    assert withdrawal.fee is None
    assert "chargeback_fee" not in _kinds(captured)
    assert _charged_back(captured) == 4_000


def test_a_replayed_withdrawal_answers_with_both_postings_and_books_nothing_more(captured):
    first = _withdraw(captured, 4_000)
    again = _withdraw(captured, 4_000)

    assert again.fee is not None and first.fee is not None
    assert (again.amount.id, again.fee.id) == (first.amount.id, first.fee.id)
    assert not again.amount.created and not again.fee.created
    assert (_kinds(captured)["chargeback"], _kinds(captured)["chargeback_fee"]) == (2, 2)
    with pytest.raises(LedgerIdempotencyConflict):
        _withdraw(captured, 4_000, fee_minor=FEE_MINOR + 1)  # another fee is another request


def test_a_fee_larger_than_the_amount_never_counts_as_charged_back(captured):
    withdrawal = _withdraw(captured, 1_000, fee_minor=5_000)

    assert _charged_back(captured) == 1_000
    assert (_effect(captured, withdrawal.amount), _effect(captured, withdrawal.fee)) == (1_000, 0)
    with pytest.raises(LedgerInvalidState):
        _refund(captured, f"{captured}:re1", 9_001)
    _refund(captured, f"{captured}:re2", 9_000)


@pytest.mark.parametrize("fee_returned_minor", [5_000, 2_000])
def test_a_reinstatement_returning_the_fee_clears_the_amount_only(captured, fee_returned_minor):
    _withdraw(captured, 1_000, fee_minor=5_000)
    reinstatement = _reinstate(captured, 1_000, fee_returned_minor)

    assert reinstatement.fee is not None
    assert (reinstatement.fee.kind, reinstatement.fee.reference) == (
        "chargeback_fee_reversal",
        "dp_1:reinstatement_fee",
    )
    assert _charged_back(captured) == 0
    assert _effect(captured, reinstatement.amount) == -1_000
    assert _effect(captured, reinstatement.fee) == 0
    summary = selectors.payment_summary(payment_id=captured)
    assert summary.balanced and summary.captured_minor == 10_000


def test_charged_back_is_read_by_kind_whatever_the_order_of_the_lines(captured):
    """Postings whose lines come in any order — credit first, the amount split over two payable
    lines, the fee's transaction before the amount's — count the same."""
    payable = _account(captured, "merchant_payable")
    receivable = _account(captured, "psp_receivable")

    def post(kind: str, *lines: services.Line) -> None:
        services.post_transaction(
            kind=kind,
            reference=f"{captured}:{kind}",
            lines=list(lines),
            payment_id=captured,
            livemode=False,
        )

    post(
        "chargeback_fee",
        services.Line(account_id=receivable, credit_minor=7_000),
        services.Line(account_id=payable, debit_minor=7_000),
    )
    post(
        "chargeback",
        services.Line(account_id=receivable, credit_minor=4_000),
        services.Line(account_id=payable, debit_minor=1_000),
        services.Line(account_id=payable, debit_minor=3_000),
    )
    assert _charged_back(captured) == 4_000

    post(
        "chargeback_fee_reversal",
        services.Line(account_id=payable, credit_minor=7_000),
        services.Line(account_id=receivable, debit_minor=7_000),
    )
    post(
        "chargeback_reversal",
        services.Line(account_id=payable, credit_minor=500),
        services.Line(account_id=payable, credit_minor=2_000),
        services.Line(account_id=receivable, debit_minor=2_500),
    )
    assert _charged_back(captured) == 1_500


def test_reversing_the_fee_leaves_the_charged_back_amount(captured):
    withdrawal = _withdraw(captured, 4_000)
    assert withdrawal.fee is not None

    services.reverse_transaction(transaction_id=withdrawal.fee.id, reference=f"{captured}:rev-fee")
    assert _charged_back(captured) == 4_000
    services.reverse_transaction(
        transaction_id=withdrawal.amount.id, reference=f"{captured}:rev-amount"
    )
    assert _charged_back(captured) == 0
