"""Property: any sequence of holds, captures, releases, refunds and reversals keeps every invariant.

A plain-Python model predicts, for each operation, whether the ledger must accept or refuse it
and what each payment's held/captured/refunded amounts become; after each sequence PostgreSQL's
own checks (fired now with SET CONSTRAINTS ALL IMMEDIATE) and the trial balance must pass.
Reversals pick any not-yet-reversed transaction of the payment (reversals included), in any
order: the ledger must refuse exactly those after which held < 0, captured < 0, refunded < 0,
refunded > captured or captured + held > authorized.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import selectors, services
from ledger.errors import LedgerInvalidState
from ledger.services import Line
from tests.ledger.conftest import unique

OPERATIONS = ["hold", "capture", "release", "release_all", "refund", "reverse", "settle"]


@dataclass
class PaymentModel:
    payment_id: str
    has_hold: bool = False
    held: int = 0
    captured: int = 0
    refunded: int = 0
    authorized: int = 0
    # transaction id → its (held, captured, refunded, authorized) effect, for reversals
    effects: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)


def _keeps_invariants(held: int, captured: int, refunded: int, authorized: int) -> bool:
    return (
        held >= 0
        and captured >= 0
        and refunded >= 0
        and refunded <= captured
        and captured + held <= authorized
    )


class _Rollback(Exception):
    pass


def _amount(model: PaymentModel, op: str, percent: int) -> int:
    """Amounts relative to what the payment has, so most operations are meaningful; above 100 %
    they overdraw and must be refused."""
    if op in ("hold", "settle"):
        return percent * 100
    base = model.captured - model.refunded if op == "refund" else model.held
    return max(1, base * percent // 100)


def _apply(model: PaymentModel, op: str, percent: int, merchant: str, provider: str) -> None:
    pid, ref = model.payment_id, unique("ref")
    amount = _amount(model, op, percent)
    if op == "settle":  # a free-form posting on shared accounts, outside any payment
        bank = services.ensure_account(
            owner="bank:main", kind="bank", currency="EUR", livemode=False
        )
        fees = services.ensure_account(
            owner=f"provider:{provider}", kind="psp_fees", currency="EUR", livemode=False
        )
        receivable = services.ensure_account(
            owner=f"provider:{provider}", kind="psp_receivable", currency="EUR", livemode=False
        )
        fee = amount // 50
        services.post_transaction(
            kind="settlement",
            reference=ref,
            lines=[
                Line(account_id=bank, debit_minor=amount - fee),
                *([Line(account_id=fees, debit_minor=fee)] if fee else []),
                Line(account_id=receivable, credit_minor=amount),
            ],
            livemode=False,
        )
        return
    if op == "hold":
        if model.has_hold:
            with pytest.raises(LedgerInvalidState):
                services.place_hold(
                    payment_id=pid, reference=ref, merchant_id=merchant, provider=provider,
                    amount_minor=amount, currency="EUR", livemode=False,
                )  # fmt: skip
            return
        txn = services.place_hold(
            payment_id=pid, reference=ref, merchant_id=merchant, provider=provider,
            amount_minor=amount, currency="EUR", livemode=False,
        )  # fmt: skip
        model.has_hold, effect = True, (amount, 0, 0, amount)
    elif not model.has_hold:
        return
    elif op == "capture":
        if not 0 < amount <= model.held:
            with pytest.raises(LedgerInvalidState):
                services.capture_hold(
                    payment_id=pid, reference=ref, amount_minor=amount, livemode=False
                )
            return
        txn = services.capture_hold(
            payment_id=pid, reference=ref, amount_minor=amount, livemode=False
        )
        effect = (-model.held, amount, 0, 0)
    elif op in ("release", "release_all"):
        release = model.held if op == "release_all" else amount
        if not 0 < release <= model.held:
            with pytest.raises(LedgerInvalidState):
                services.release_hold(
                    payment_id=pid,
                    reference=ref,
                    amount_minor=None if op == "release_all" else amount,
                    livemode=False,
                )
            return
        txn = services.release_hold(
            payment_id=pid,
            reference=ref,
            amount_minor=None if op == "release_all" else amount,
            livemode=False,
        )
        effect = (-release, 0, 0, 0)
    elif op == "refund":
        if amount > model.captured - model.refunded:
            with pytest.raises(LedgerInvalidState):
                services.post_refund(
                    payment_id=pid, reference=ref, amount_minor=amount, livemode=False
                )
            return
        txn = services.post_refund(
            payment_id=pid, reference=ref, amount_minor=amount, livemode=False
        )
        effect = (0, 0, amount, 0)
    else:  # reverse any transaction of the payment not reversed yet (percent picks which)
        if not model.effects:
            return
        candidates = sorted(model.effects)
        original_id = candidates[percent % len(candidates)]
        effect = tuple(-part for part in model.effects[original_id])
        after = (
            model.held + effect[0], model.captured + effect[1],
            model.refunded + effect[2], model.authorized + effect[3],
        )  # fmt: skip
        if not _keeps_invariants(*after):
            with pytest.raises(LedgerInvalidState) as info:
                services.reverse_transaction(transaction_id=original_id, reference=ref)
            assert info.value.code == "ledger_reversal_breaks_invariants"
            return
        txn = services.reverse_transaction(transaction_id=original_id, reference=ref)
        del model.effects[original_id]  # reversed once; the reversal itself can be reversed
    model.held += effect[0]
    model.captured += effect[1]
    model.refunded += effect[2]
    model.authorized += effect[3]
    model.effects[txn.id] = effect


def _assert_invariants(models: list[PaymentModel]) -> None:
    for model in models:
        summary = selectors.payment_summary(payment_id=model.payment_id)
        figures = (
            summary.held_minor, summary.captured_minor, summary.refunded_minor,
            summary.authorized_minor,
        )  # fmt: skip
        assert figures == (model.held, model.captured, model.refunded, model.authorized)
        assert _keeps_invariants(*figures)
        assert summary.balanced
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the commit-time checks, now
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    run = services.run_trial_balance(livemode=False)
    assert run.ok, run.failures


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 1), st.integers(1, 120)),
        min_size=1,
        max_size=25,
    )
)
def test_random_sequences_keep_every_invariant(db, steps):
    merchant, provider = unique("acct"), unique("sim")
    models = [PaymentModel(payment_id=unique("pay")) for _ in range(2)]
    # Each example runs in a savepoint rolled back at the end: examples stay independent.
    with pytest.raises(_Rollback), transaction.atomic():
        for op, index, percent in steps:
            _apply(models[index], op, percent, merchant, provider)
        _assert_invariants(models)
        raise _Rollback
