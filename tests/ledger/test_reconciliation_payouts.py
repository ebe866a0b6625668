"""The three-way match: a provider's payout against the credit it produced on our bank
statement — received, not received, or received for another amount — and a statement that
arrives after the run turns a payout not received into a match on the re-run."""

from __future__ import annotations

import pytest

from ledger import services as ledger
from ledger.reconciliation.models import Break
from ledger.statements import services as statements
from tests.ledger.bank_files import collection_accounts  # noqa: F401  a fixture
from tests.ledger.reconciliation_helpers import Book, capture_line, line, unique

pytestmark = pytest.mark.usefixtures("collection_accounts")


@pytest.fixture
def book(db) -> Book:
    return Book()


def _bank_credit(amount_minor: int, remittance: str) -> None:
    statements.record_synthetic_credit(
        livemode=False,
        amount_minor=amount_minor,
        currency="EUR",
        reference=remittance,
        payer_name="Simulated PSP B.V.",
    )


def _day(book: Book, payout_id: str, payout_minor: int):
    paid = book.capture(10_000)
    return [capture_line(paid, fee_minor=200), line("payout", "", -payout_minor, 0,
                                                    payout_reference=payout_id)]  # fmt: skip


def _trial_balance_ok() -> None:
    for livemode in (False, True):
        assert ledger.run_trial_balance(livemode=livemode).ok


def test_a_payout_credited_to_our_bank_is_matched_three_ways(book):
    payout_id = unique("po")
    _bank_credit(9_800, f"PAYOUT {payout_id} SIMULATOR")
    result = book.reconcile(_day(book, payout_id, 9_800))
    assert (result.matched, result.breaks) == (2, {})
    _trial_balance_ok()


def test_a_payout_missing_from_the_bank_statement_is_not_received(book):
    result = book.reconcile(_day(book, unique("po"), 9_800))
    assert (result.matched, result.breaks) == (1, {"payout_not_received": 1})
    brk = Break.objects.get(provider=book.provider)
    assert (brk.provider_minor, brk.difference_minor) == (9_800, 9_800)
    _trial_balance_ok()


def test_a_payout_credited_for_another_amount_is_a_payout_amount_mismatch(book):
    payout_id = unique("po")
    _bank_credit(9_700, f"payout {payout_id}")
    result = book.reconcile(_day(book, payout_id, 9_800))
    assert result.breaks == {"payout_amount_mismatch": 1}
    brk = Break.objects.get(provider=book.provider)
    assert (brk.provider_minor, brk.ledger_minor, brk.difference_minor) == (9_800, 9_700, 100)
    _trial_balance_ok()


def test_a_payout_is_found_by_amount_and_date_when_the_bank_drops_the_reference(book):
    _bank_credit(9_811, "SETTLEMENT")
    result = book.reconcile(_day(book, unique("po"), 9_811))
    assert result.breaks == {}


def test_a_statement_arriving_after_the_run_settles_the_payout_on_the_re_run(book):
    payout_id = unique("po")
    lines = _day(book, payout_id, 9_800)
    first = book.reconcile(lines)
    assert first.breaks == {"payout_not_received": 1}

    _bank_credit(9_800, payout_id)
    again = book.reconcile(lines)

    brk = Break.objects.get(provider=book.provider)
    assert brk.resolved_at is not None and brk.resolution_reason == "payout received"
    assert (again.status, again.matched, again.breaks) == ("ok", 2, {})
    _trial_balance_ok()
