"""Reconciliation: each outcome of the matcher, the settlement it posts for matched lines and
nothing for breaks, idempotent re-runs — and the trial balance stays zero throughout."""

from __future__ import annotations

import pytest

from ledger import selectors
from ledger import services as ledger
from ledger.models import Transaction
from ledger.reconciliation.models import Break, ReconciledLine, SettlementReport
from tests.ledger.reconciliation_helpers import Book, capture_line, line, unique


@pytest.fixture
def book(db) -> Book:
    return Book()


def _outcomes(result) -> dict[str, str]:
    rows = ReconciledLine.objects.filter(report__provider=result.provider).order_by("line_no")
    return {row.reference: row.outcome for row in rows}


def _balance(book: Book, kind: str, owner: str | None = None, currency: str = "EUR") -> int:
    account = ledger.ensure_account(
        owner=owner or f"provider:{book.provider}",
        kind=kind,
        currency=currency,
        livemode=book.livemode,
    )
    return selectors.account_balance(account_id=account).posted_minor


def _trial_balance_ok() -> None:
    for livemode in (False, True):
        run = ledger.run_trial_balance(livemode=livemode)
        assert run.ok, run.failures


def test_a_matching_capture_is_matched_and_settled(book):
    paid = book.capture(10_000)
    result = book.reconcile([capture_line(paid, fee_minor=250)])

    assert result.status == "ok"
    assert (result.matched, result.breaks) == (1, {})
    assert _outcomes(result) == {paid.attempt_id: "matched"}
    # Dr bank 9,750 + Dr psp_fees 250 / Cr psp_receivable 10,000: the receivable is cleared
    assert _balance(book, "psp_receivable") == 0
    assert _balance(book, "psp_fees") == 250
    assert result.totals["EUR"]["matched_net_minor"] == 9_750
    settlement = Transaction.objects.get(kind="settlement", reference__contains=book.provider)
    assert settlement.description.startswith(f"Settlement of {book.provider}")
    _trial_balance_ok()


def test_a_capture_is_also_found_by_the_providers_reference(book):
    paid = book.capture(5_000)
    by_provider = line(
        "capture", "", 5_000, 0, provider_reference=paid.provider_reference
    )  # the provider did not echo our attempt id
    result = book.reconcile([by_provider])
    assert result.matched == 1


def test_a_capture_of_another_amount_is_an_amount_mismatch_and_posts_nothing(book):
    paid = book.capture(10_000)
    result = book.reconcile([capture_line(paid, gross_minor=9_000)])

    assert result.breaks == {"amount_mismatch": 1}
    brk = Break.objects.get(provider=book.provider)
    assert (brk.provider_minor, brk.ledger_minor, brk.difference_minor) == (9_000, 10_000, -1_000)
    assert brk.payment_id == paid.payment_id
    assert _balance(book, "psp_receivable") == 10_000  # nothing settled for a break
    assert not Transaction.objects.filter(kind="settlement", reference__contains=book.provider)
    _trial_balance_ok()


def test_a_line_the_ledger_never_booked_is_missing_in_the_ledger(book):
    result = book.reconcile([line("capture", unique("att"), 4_200, 10)])
    assert result.breaks == {"missing_in_ledger": 1}
    assert result.matched == 0
    _trial_balance_ok()


def test_a_capture_with_no_line_after_the_providers_delay_is_missing_in_the_report(book):
    settled, unsettled = book.capture(1_000), book.capture(2_000)
    result = book.reconcile([capture_line(settled)], delay_days=0)

    assert result.breaks == {"missing_in_report": 1}
    brk = Break.objects.get(provider=book.provider)
    assert (brk.payment_id, brk.reference) == (unsettled.payment_id, unsettled.attempt_id)
    assert (brk.ledger_minor, brk.difference_minor) == (2_000, -2_000)
    _trial_balance_ok()


def test_a_capture_within_the_providers_delay_is_not_yet_missing(book):
    book.capture(1_000)
    result = book.reconcile([], delay_days=2)  # today's captures settle in two days
    assert result.breaks == {}


def test_a_line_reported_twice_is_a_duplicate_and_settled_once(book):
    paid = book.capture(3_000)
    first = capture_line(paid, fee_minor=0)
    result = book.reconcile([first, first])

    assert (result.matched, result.breaks) == (1, {"duplicate": 1})
    assert _balance(book, "psp_receivable") == 0
    _trial_balance_ok()


def test_a_line_already_settled_by_an_earlier_report_is_a_duplicate(book):
    paid = book.capture(3_000)
    book.reconcile([capture_line(paid)])
    book.today = book.today.replace(day=1) if book.today.day != 1 else book.today.replace(day=2)
    again = book.reconcile([capture_line(paid)])
    assert again.breaks == {"duplicate": 1}
    assert _balance(book, "psp_receivable") == 0
    _trial_balance_ok()


def test_refunds_chargebacks_reversals_and_fees_are_matched_and_settled(book):
    paid = book.capture(10_000)
    ledger.post_refund(
        payment_id=paid.payment_id, reference="re_" + paid.payment_id, amount_minor=2_000,
        livemode=False,
    )  # fmt: skip
    disputed = book.capture(5_000)
    dispute_id = unique("dp")
    ledger.post_dispute_withdrawal(
        payment_id=disputed.payment_id, dispute_id=dispute_id, amount_minor=5_000, fee_minor=1_500,
        livemode=False,
    )  # fmt: skip
    ledger.post_dispute_reinstatement(
        payment_id=disputed.payment_id, dispute_id=dispute_id, amount_minor=5_000, livemode=False
    )
    lines = [
        capture_line(paid, fee_minor=300),
        line("refund", "re_" + paid.payment_id, -2_000),
        capture_line(disputed, fee_minor=150),
        line("chargeback", disputed.attempt_id, -5_000, 1_500),
        line("chargeback_reversal", disputed.attempt_id, 5_000),
        line("fee", unique("fee"), 0, 99),
    ]
    result = book.reconcile(lines)

    assert (result.matched, result.breaks) == (6, {})
    assert _balance(book, "psp_receivable") == 0
    # capture fees 300 + 150 and the monthly fee 99; the dispute fee was the merchant's
    assert _balance(book, "psp_fees") == 549
    _trial_balance_ok()


def test_a_refund_of_another_amount_is_a_mismatch(book):
    paid = book.capture(10_000)
    ledger.post_refund(
        payment_id=paid.payment_id, reference="re_" + paid.payment_id, amount_minor=2_000,
        livemode=False,
    )  # fmt: skip
    result = book.reconcile([capture_line(paid), line("refund", "re_" + paid.payment_id, -2_500)])
    assert (result.matched, result.breaks) == (1, {"amount_mismatch": 1})


def test_re_running_a_day_changes_nothing_and_gives_the_same_result(book):
    paid, other = book.capture(10_000), book.capture(7_000)
    lines = [capture_line(paid), capture_line(other, gross_minor=6_000), line("capture", "x", 1)]
    first = book.reconcile(lines)
    postings = Transaction.objects.filter(reference__contains=book.provider).count()

    second = book.reconcile(lines)

    assert (second.status, second.matched, second.breaks, second.totals) == (
        first.status, first.matched, first.breaks, first.totals,
    )  # fmt: skip
    assert SettlementReport.objects.filter(provider=book.provider).count() == 1
    assert ReconciledLine.objects.filter(report__provider=book.provider).count() == 3
    assert Break.objects.filter(provider=book.provider).count() == 2
    assert Transaction.objects.filter(reference__contains=book.provider).count() == postings
    _trial_balance_ok()


def test_a_line_of_a_test_provider_never_matches_a_live_payment(db):
    live = Book(livemode=True)
    paid = live.capture(1_000)
    test_side = Book(livemode=False)
    test_side.provider = live.provider
    result = test_side.reconcile([capture_line(paid)])
    assert result.breaks == {"missing_in_ledger": 1}
    _trial_balance_ok()
