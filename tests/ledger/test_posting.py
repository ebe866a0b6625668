"""Posting, idempotency, reversal and balances through the service API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ledger import selectors, services
from ledger.errors import LedgerIdempotencyConflict, LedgerInvalidPosting, LedgerInvalidState
from ledger.models import Entry
from ledger.services import Line
from tests.ledger.conftest import unique


def _capture(accounts, amount_minor: int, reference: str, **kwargs):
    return services.post_transaction(
        kind="capture",
        reference=reference,
        lines=[
            Line(account_id=accounts["receivable"], debit_minor=amount_minor),
            Line(account_id=accounts["payable"], credit_minor=amount_minor),
        ],
        **kwargs,
    )


def test_posting_books_entries_and_moves_both_balances(eur_accounts):
    posted = _capture(eur_accounts, 1250, unique("cap"), payment_id="pay_1")

    assert posted.created
    rows = list(Entry.objects.filter(transaction_id=posted.id).order_by("entry_id"))
    assert [(r.debit, r.credit, r.currency, r.payment_id) for r in rows] == [
        (1250, 0, "EUR", "pay_1"),
        (0, 1250, "EUR", "pay_1"),
    ]
    assert selectors.account_balance(account_id=eur_accounts["payable"]).posted_minor == 1250
    assert selectors.account_balance(account_id=eur_accounts["receivable"]).posted_minor == 1250


def test_retried_posting_with_same_reference_never_books_twice(eur_accounts):
    reference = unique("cap")
    first = _capture(eur_accounts, 500, reference)
    again = _capture(eur_accounts, 500, reference)

    assert (again.id, again.created) == (first.id, False)
    assert Entry.objects.filter(account_id=eur_accounts["payable"]).count() == 1
    assert selectors.account_balance(account_id=eur_accounts["payable"]).posted_minor == 500


def test_unbalanced_lines_are_refused_before_reaching_the_database(eur_accounts):
    with pytest.raises(LedgerInvalidPosting) as info:
        services.post_transaction(
            kind="adjustment",
            reference=unique("adj"),
            lines=[
                Line(account_id=eur_accounts["bank"], debit_minor=100),
                Line(account_id=eur_accounts["payable"], credit_minor=99),
            ],
        )
    assert info.value.code == "ledger_unbalanced"


@pytest.mark.parametrize(
    "lines",
    [
        [Line(account_id=0, debit_minor=100)],
        [Line(account_id=0, debit_minor=100, credit_minor=100), Line(account_id=0)],
        [Line(account_id=0, debit_minor=-5), Line(account_id=0, credit_minor=-5)],
    ],
)
def test_malformed_lines_are_refused(eur_accounts, lines):
    with pytest.raises(LedgerInvalidPosting):
        services.post_transaction(kind="adjustment", reference=unique("adj"), lines=lines)


def test_lines_in_two_currencies_must_each_balance(eur_accounts):
    usd_bank = services.ensure_account(owner=unique("bank:us"), kind="bank", currency="usd")
    with pytest.raises(LedgerInvalidPosting):
        services.post_transaction(
            kind="adjustment",
            reference=unique("fx"),
            lines=[
                Line(account_id=eur_accounts["bank"], debit_minor=100),
                Line(account_id=usd_bank, credit_minor=100),
            ],
        )


def test_reversal_restores_balances_and_happens_only_once(eur_accounts):
    posted = _capture(eur_accounts, 700, unique("cap"))
    reversal = services.reverse_transaction(transaction_id=posted.id, reference=unique("rev"))

    assert reversal.created and reversal.id != posted.id
    assert selectors.account_balance(account_id=eur_accounts["payable"]).posted_minor == 0
    assert selectors.account_balance(account_id=eur_accounts["receivable"]).posted_minor == 0
    with pytest.raises(LedgerInvalidState) as info:
        services.reverse_transaction(transaction_id=posted.id, reference=unique("rev"))
    assert info.value.code == "ledger_already_reversed"


def test_balance_as_of_a_past_time_ignores_later_entries(eur_accounts):
    first = _capture(eur_accounts, 100, unique("cap"))
    second = _capture(eur_accounts, 40, unique("cap"))

    payable = eur_accounts["payable"]
    assert selectors.account_balance(account_id=payable, as_of=first.ts).posted_minor == 100
    assert selectors.account_balance(account_id=payable, as_of=second.ts).posted_minor == 140
    before = first.ts - timedelta(seconds=1)
    assert selectors.account_balance(account_id=payable, as_of=before).posted_minor == 0


def test_backdated_posting_before_an_accounts_last_entry_is_refused(eur_accounts):
    first = _capture(eur_accounts, 100, unique("cap"))
    with pytest.raises(LedgerInvalidPosting) as info:
        _capture(eur_accounts, 5, unique("cap"), ts=first.ts - timedelta(days=1))
    assert info.value.code == "ledger_backdated"


def test_owner_balances_list_every_account_of_the_owner(eur_accounts):
    _capture(eur_accounts, 300, unique("cap"))
    owner = selectors.account_balance(account_id=eur_accounts["payable"]).owner
    services.ensure_account(owner=owner, kind="merchant_payable", currency="USD")

    balances = selectors.owner_balances(owner=owner)
    assert {(b.kind, b.currency, b.posted_minor) for b in balances} == {
        ("merchant_payable", "EUR", 300),
        ("merchant_payable", "USD", 0),
    }
    assert selectors.owner_totals(owner=owner) == {"EUR": 300, "USD": 0}


def test_ensure_account_is_get_or_create(db):
    owner = unique("merchant:acct")
    first = services.ensure_account(owner=owner, kind="merchant_payable", currency="eur")
    assert services.ensure_account(owner=owner, kind="merchant_payable", currency="EUR") == first
    with pytest.raises(LedgerInvalidPosting):
        services.ensure_account(owner=owner, kind="no_such_kind", currency="EUR")


def test_balance_of_an_unknown_account_is_not_found(db):
    from core.errors import NotFound

    with pytest.raises(NotFound):
        selectors.account_balance(account_id=-1)


# --- replays must repeat the original request ----------------------------------------------


def test_replay_naming_another_payment_is_a_conflict_not_a_no_op(eur_accounts):
    reference = unique("cap")
    _capture(eur_accounts, 500, reference, payment_id=unique("pay"))
    with pytest.raises(LedgerIdempotencyConflict) as info:
        _capture(eur_accounts, 500, reference, payment_id=unique("pay"))
    assert info.value.code == "ledger_idempotency_conflict"
    assert Entry.objects.filter(account_id=eur_accounts["payable"]).count() == 1


def test_replay_with_other_lines_is_a_conflict_not_a_no_op(eur_accounts):
    reference, payment_id = unique("cap"), unique("pay")
    _capture(eur_accounts, 500, reference, payment_id=payment_id)
    with pytest.raises(LedgerIdempotencyConflict) as info:
        _capture(eur_accounts, 501, reference, payment_id=payment_id)
    assert info.value.code == "ledger_idempotency_conflict"
    assert selectors.account_balance(account_id=eur_accounts["payable"]).posted_minor == 500


def test_replay_with_the_same_lines_in_another_order_replays(eur_accounts):
    reference = unique("cap")
    first = _capture(eur_accounts, 500, reference)
    again = services.post_transaction(
        kind="capture",
        reference=reference,
        lines=[
            Line(account_id=eur_accounts["payable"], credit_minor=500),
            Line(account_id=eur_accounts["receivable"], debit_minor=500),
        ],
    )
    assert (again.id, again.created) == (first.id, False)


def test_sql_refuses_a_replay_with_other_lines(eur_accounts):
    """ledger_post() itself compares the digest, whoever calls it."""
    reference = unique("cap")
    _capture(eur_accounts, 500, reference)
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT * FROM ledger_post('capture', %s, '', '', NULL, NULL, %s::bigint[], "
            "'{9,0}'::bigint[], '{0,9}'::bigint[], 'another digest')",
            [reference, [eur_accounts["receivable"], eur_accounts["payable"]]],
        )
    assert info.value.__cause__.sqlstate == "LG007"


# --- booking time has an upper bound --------------------------------------------------------


def test_far_future_booking_time_is_refused(eur_accounts):
    with pytest.raises(LedgerInvalidPosting) as info:
        _capture(eur_accounts, 5, unique("cap"), ts=timezone.now() + timedelta(days=30))
    assert info.value.code == "ledger_future_dated"
    # the accounts are not poisoned: a posting now still works
    assert _capture(eur_accounts, 5, unique("cap")).created


def test_booking_time_within_the_clock_skew_is_accepted(eur_accounts):
    ts = timezone.now() + timedelta(seconds=services.MAX_FUTURE_SKEW_S // 2)
    assert _capture(eur_accounts, 5, unique("cap"), ts=ts).ts == ts


def test_sql_refuses_a_far_future_booking_time(eur_accounts):
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT * FROM ledger_post('capture', %s, '', '', now() + interval '1 day', NULL, "
            "%s::bigint[], '{9,0}'::bigint[], '{0,9}'::bigint[], '')",
            [unique("cap"), [eur_accounts["receivable"], eur_accounts["payable"]]],
        )
    assert info.value.__cause__.sqlstate == "LG009"


def test_sql_and_python_allow_the_same_clock_skew(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT extract(epoch FROM ledger_max_future_skew())")
        assert int(cursor.fetchone()[0]) == services.MAX_FUTURE_SKEW_S


def test_posting_dated_before_every_partition_is_refused(db):
    """No partition covers it: refused (and logged as an error), never parked in the default."""
    bank = services.ensure_account(owner=unique("bank:old"), kind="bank", currency="EUR")
    cash = services.ensure_account(owner=unique("bank:old"), kind="bank", currency="EUR")
    with pytest.raises(LedgerInvalidPosting) as info:
        services.post_transaction(
            kind="adjustment",
            reference=unique("adj"),
            lines=[Line(account_id=bank, debit_minor=5), Line(account_id=cash, credit_minor=5)],
            ts=timezone.now() - timedelta(days=3650),
        )
    assert info.value.code == "ledger_no_partition"


def test_reversal_guard_judges_only_what_the_reversal_breaks(eur_accounts):
    """A payment booked free-form (a capture without a hold) already has captured > authorized;
    its refund can still be reversed, but not its capture while the refund stands."""
    payment_id = unique("pay")
    capture = _capture(eur_accounts, 700, unique("cap"), payment_id=payment_id)
    refund = services.post_transaction(
        kind="refund",
        reference=unique("re"),
        payment_id=payment_id,
        lines=[
            Line(account_id=eur_accounts["payable"], debit_minor=300),
            Line(account_id=eur_accounts["receivable"], credit_minor=300),
        ],
    )
    with pytest.raises(LedgerInvalidState) as info:
        services.reverse_transaction(transaction_id=capture.id, reference=unique("rev"))
    assert info.value.code == "ledger_reversal_breaks_invariants"
    services.reverse_transaction(transaction_id=refund.id, reference=unique("rev"))
    services.reverse_transaction(transaction_id=capture.id, reference=unique("rev"))
    summary = selectors.payment_summary(payment_id=payment_id)
    assert (summary.captured_minor, summary.refunded_minor) == (0, 0)
