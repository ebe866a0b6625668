"""Test and live money in separate books: the mode is part of every account's identity, a
payment's postings land in accounts of its own mode, no transaction moves money between the
modes, the trial balance runs (and is stored) per mode, and migration 0005 moves a live
payment's earlier bookings out of the test accounts by new transactions, never by editing."""

from __future__ import annotations

import importlib

import pytest
from django.db import IntegrityError, connection, transaction

from ledger import selectors, services
from ledger.errors import LedgerInvalidPosting, LedgerInvalidState
from ledger.models import Account, Entry, Hold, Transaction, TrialBalanceRun
from ledger.services import Line
from tests.ledger.conftest import unique

MODES = [pytest.param(False, id="test"), pytest.param(True, id="live")]


def _sale(*, livemode: bool, amount_minor: int = 10_000, merchant: str = "", provider: str = ""):
    payment_id = unique("pay")
    services.place_and_capture_hold(
        payment_id=payment_id,
        hold_reference=f"{payment_id}:hold",
        capture_reference=f"{payment_id}:capture",
        merchant_id=merchant or unique("acct"),
        provider=provider or unique("sim"),
        amount_minor=amount_minor,
        currency="EUR",
        livemode=livemode,
    )
    return payment_id


def _modes_of(payment_id: str) -> set[bool]:
    """The modes of the accounts the payment's entries are on."""
    return set(
        Entry.objects.filter(payment_id=payment_id).values_list("account__livemode", flat=True)
    )


def test_the_mode_is_part_of_an_accounts_identity(db):
    owner = f"merchant:{unique('acct')}"
    test_id = services.ensure_account(
        owner=owner, kind="merchant_payable", currency="EUR", livemode=False
    )
    live_id = services.ensure_account(
        owner=owner, kind="merchant_payable", currency="eur", livemode=True
    )
    assert test_id != live_id
    assert (
        services.ensure_account(owner=owner, kind="merchant_payable", currency="EUR", livemode=True)
        == live_id
    )
    assert {(a.id, a.livemode) for a in Account.objects.filter(owner=owner)} == {
        (test_id, False),
        (live_id, True),
    }
    with pytest.raises(LedgerInvalidPosting):
        services.ensure_account(owner=owner, kind="merchant_payable", currency="EUR", livemode=1)


def test_the_database_refuses_a_second_account_of_one_identity(db):
    owner = f"merchant:{unique('acct')}"
    services.ensure_account(owner=owner, kind="merchant_payable", currency="EUR", livemode=True)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_accounts (owner, kind, currency, normal_side, livemode) "
            "VALUES (%s, 'merchant_payable', 'EUR', 'credit', true)",
            [owner],
        )


def test_an_account_without_a_mode_is_refused_by_the_database(db):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_accounts (owner, kind, currency, normal_side) "
            "VALUES (%s, 'bank', 'EUR', 'debit')",
            [unique("bank:x")],
        )


@pytest.mark.parametrize("livemode", MODES)
def test_a_payments_postings_land_in_its_own_mode(db, livemode):
    merchant = unique("acct")
    payment_id = _sale(livemode=livemode, merchant=merchant)
    services.post_refund(
        payment_id=payment_id, reference=f"{payment_id}:r1", amount_minor=2_500, livemode=livemode
    )
    services.post_dispute_withdrawal(
        payment_id=payment_id,
        dispute_id=unique("dp"),
        amount_minor=1_000,
        fee_minor=150,
        livemode=livemode,
    )
    assert _modes_of(payment_id) == {livemode}
    owner = f"merchant:{merchant}"
    assert selectors.owner_totals(owner=owner, livemode=livemode) == {
        "EUR": 10_000 - 2_500 - 1_000 - 150
    }
    assert selectors.owner_totals(owner=owner, livemode=not livemode) == {}
    assert Hold.objects.get(payment_id=payment_id).livemode is livemode


def test_a_hold_is_operated_in_its_own_mode_only(db):
    payment_id = unique("pay")
    services.place_hold(
        payment_id=payment_id,
        reference=f"{payment_id}:hold",
        merchant_id=unique("acct"),
        provider=unique("sim"),
        amount_minor=5_000,
        currency="EUR",
        livemode=True,
    )
    for operation in (
        lambda: services.capture_hold(
            payment_id=payment_id, reference=f"{payment_id}:c", amount_minor=5_000, livemode=False
        ),
        lambda: services.release_hold(
            payment_id=payment_id, reference=f"{payment_id}:v", livemode=False
        ),
        lambda: services.post_dispute_withdrawal(
            payment_id=payment_id, dispute_id="dp_x", amount_minor=1, fee_minor=0, livemode=False
        ),
    ):
        with pytest.raises(LedgerInvalidState) as refused:
            operation()
        assert refused.value.code == "ledger_wrong_mode"
    services.capture_hold(
        payment_id=payment_id, reference=f"{payment_id}:c", amount_minor=5_000, livemode=True
    )
    assert _modes_of(payment_id) == {True}
    assert selectors.payment_summary(payment_id=payment_id).captured_minor == 5_000


def test_a_posting_cannot_touch_the_other_modes_accounts(db):
    owner = unique("bank:x")
    test_bank = services.ensure_account(owner=owner, kind="bank", currency="EUR", livemode=False)
    live_bank = services.ensure_account(owner=owner, kind="bank", currency="EUR", livemode=True)
    lines = [
        Line(account_id=test_bank, debit_minor=100),
        Line(account_id=live_bank, credit_minor=100),
    ]
    for livemode in (False, True):
        with pytest.raises(LedgerInvalidPosting) as refused:
            services.post_transaction(
                kind="adjustment", reference=unique("x"), lines=lines, livemode=livemode
            )
        assert refused.value.code == "ledger_wrong_mode"


def test_postgresql_refuses_a_transaction_that_moves_money_between_modes(db):
    """Balanced per currency, but not per mode: the commit-time check (LG002) refuses it."""
    owner = unique("bank:raw")
    test_bank = services.ensure_account(owner=owner, kind="bank", currency="EUR", livemode=False)
    live_bank = services.ensure_account(owner=owner, kind="bank", currency="EUR", livemode=True)
    refusal = pytest.raises(Exception, match="does not balance in EUR")
    with refusal as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT o_id FROM ledger_post('adjustment', %s, '', '', NULL, NULL, "
            "%s::bigint[], '{100,0}'::bigint[], '{0,100}'::bigint[], '')",
            [unique("raw"), [test_bank, live_bank]],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert getattr(refused.value.__cause__, "sqlstate", None) == "LG002"


def test_the_trial_balance_is_per_mode_and_stored_per_mode(db):
    _sale(livemode=False, amount_minor=700)
    _sale(livemode=True, amount_minor=900)
    test_run = services.run_trial_balance(livemode=False)
    live_run = services.run_trial_balance(livemode=True)
    assert test_run.ok, test_run.failures
    assert live_run.ok, live_run.failures
    assert (test_run.livemode, live_run.livemode) == (False, True)
    assert set(TrialBalanceRun.objects.values_list("livemode", flat=True)) == {False, True}
    assert test_run.entries_count >= 6 and live_run.entries_count >= 6


class _Rollback(Exception):
    pass


def test_an_unbalanced_mode_fails_only_that_modes_trial_balance(db):
    live_bank = services.ensure_account(
        owner=unique("bank:raw"), kind="bank", currency="EUR", livemode=True
    )
    with pytest.raises(_Rollback), transaction.atomic(), connection.cursor() as cursor:
        # Inside a savepoint the deferred balance check has not fired yet.
        cursor.execute(
            "INSERT INTO ledger_transactions (kind, reference, ts) "
            "VALUES ('adjustment', %s, now()) RETURNING id, ts",
            [unique("raw")],
        )
        txn_id, ts = cursor.fetchone()
        cursor.execute(
            "INSERT INTO ledger_entries (transaction_id, account_id, debit, credit, currency, ts, "
            "running_debit, running_credit) VALUES (%s, %s, 10, 0, 'EUR', %s, 0, 0), "
            "(%s, %s, 0, 10, 'EUR', %s, 0, 0)",
            [txn_id, live_bank, ts, txn_id, _some_test_account(), ts],
        )
        live_run = services.run_trial_balance(livemode=True)
        test_run = services.run_trial_balance(livemode=False)
        raise _Rollback
    live_failures = {(f["check"], f.get("livemode")) for f in live_run.failures}
    test_failures = {(f["check"], f.get("livemode")) for f in test_run.failures}
    assert {("currency_unbalanced", True), ("transaction_unbalanced", True)} <= live_failures
    assert {("currency_unbalanced", False), ("transaction_unbalanced", False)} <= test_failures
    assert not any(mode is True for _, mode in test_failures)


def _some_test_account() -> int:
    return services.ensure_account(
        owner=unique("bank:raw"), kind="bank", currency="EUR", livemode=False
    )


# --- migration 0005: live payments booked before the modes existed ----------------------------

_migration = importlib.import_module("ledger.migrations.0005_account_modes")


def _booked_as_before_the_migration(merchant, *, livemode_payment: bool, amount_minor: int):
    """A payment of that mode whose sale was booked the way every sale was before 0005: in the
    (test-mode) accounts of its owner, kind and currency, its hold row marked test."""
    from payments.models import Payment

    payment = Payment.objects.create(
        merchant=merchant.merchant,
        amount_minor=amount_minor,
        currency="EUR",
        method_type="card",
        livemode=livemode_payment,
    )
    services.place_and_capture_hold(
        payment_id=payment.id,
        hold_reference=f"{payment.id}:hold",
        capture_reference=f"{payment.id}:capture",
        merchant_id=merchant.merchant.id,
        provider="sim-a",
        amount_minor=amount_minor,
        currency="EUR",
        livemode=False,
    )
    return payment


def test_the_migration_moves_live_payments_by_new_transactions(merchant):
    live = _booked_as_before_the_migration(merchant, livemode_payment=True, amount_minor=4_000)
    test = _booked_as_before_the_migration(merchant, livemode_payment=False, amount_minor=1_500)
    owner = f"merchant:{merchant.merchant.id}"
    before = list(Entry.objects.filter(payment_id=live.id).order_by("entry_id").values())
    assert selectors.owner_totals(owner=owner, livemode=False) == {"EUR": 5_500}

    with connection.cursor() as cursor:
        assert _migration.reclassify_live_payments(cursor) == 1

    # The earlier entries are untouched; one new adjustment moved the live payment's money.
    after = list(Entry.objects.filter(payment_id=live.id).order_by("entry_id").values())
    assert after[: len(before)] == before
    moved = Transaction.objects.get(payment_id=live.id, reference=f"{live.id}:livemode")
    assert moved.kind == "adjustment"
    assert selectors.owner_totals(owner=owner, livemode=True) == {"EUR": 4_000}
    assert selectors.owner_totals(owner=owner, livemode=False) == {"EUR": 1_500}
    assert Hold.objects.get(payment_id=live.id).livemode is True
    assert Hold.objects.get(payment_id=test.id).livemode is False
    assert _modes_of(test.id) == {False}
    summary = selectors.payment_summary(payment_id=live.id)
    assert (summary.captured_minor, summary.held_minor, summary.balanced) == (4_000, 0, True)

    # The live payment now books in live accounts; a second run finds nothing to move.
    services.post_refund(
        payment_id=live.id, reference=f"{live.id}:r", amount_minor=1_000, livemode=True
    )
    assert selectors.owner_totals(owner=owner, livemode=True) == {"EUR": 3_000}
    with connection.cursor() as cursor:
        assert _migration.reclassify_live_payments(cursor) == 0
    for livemode in (False, True):
        run = services.run_trial_balance(livemode=livemode)
        assert run.ok, run.failures


def test_the_migration_moves_an_open_live_hold_too(merchant):
    from payments.models import Payment

    payment = Payment.objects.create(
        merchant=merchant.merchant,
        amount_minor=2_000,
        currency="EUR",
        method_type="card",
        livemode=True,
    )
    services.place_hold(
        payment_id=payment.id,
        reference=f"{payment.id}:hold",
        merchant_id=merchant.merchant.id,
        provider="sim-a",
        amount_minor=2_000,
        currency="EUR",
        livemode=False,
    )
    with connection.cursor() as cursor:
        assert _migration.reclassify_live_payments(cursor) == 1
    live = selectors.merchant_balance(merchant_id=merchant.merchant.id, livemode=True)
    assert [(a.amount_minor, a.currency) for a in live.pending] == [(2_000, "EUR")]
    services.capture_hold(
        payment_id=payment.id, reference=f"{payment.id}:c", amount_minor=2_000, livemode=True
    )
    live = selectors.merchant_balance(merchant_id=merchant.merchant.id, livemode=True)
    assert [(a.amount_minor, a.currency) for a in live.pending] == [(0, "EUR")]
    assert [(a.amount_minor, a.currency) for a in live.posted] == [(2_000, "EUR")]
    assert selectors.payment_summary(payment_id=payment.id).balanced


def test_the_migration_does_nothing_without_live_payments(merchant):
    _booked_as_before_the_migration(merchant, livemode_payment=False, amount_minor=900)
    count = Transaction.objects.count()
    with connection.cursor() as cursor:
        assert _migration.reclassify_live_payments(cursor) == 0
    assert Transaction.objects.count() == count
