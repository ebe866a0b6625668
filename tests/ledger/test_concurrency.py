"""Several processes posting thousands of transactions to the same hot accounts.

Every posting touches the same three hot accounts with its lines in random order, so without
ordered locking they would deadlock; the same references are also posted by every process at
once, so without idempotency they would book twice. Balances must come out exact, and no error
may reach any caller.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from django.db import connection

from ledger import selectors, services
from ledger.errors import LedgerInvalidState
from tests.ledger import posting_worker
from tests.ledger.conftest import unique

PROCESSES = 4
POSTINGS_PER_PROCESS = 600
SHARED_REFERENCES = 50  # posted by every process: each must be booked once


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_parallel_postings_to_hot_accounts_end_exact_without_errors():
    provider, merchant = unique("provider:hot"), unique("merchant:hot")
    accounts = {
        "receivable": services.ensure_account(
            owner=provider, kind="psp_receivable", currency="EUR", livemode=False
        ),
        "fees": services.ensure_account(
            owner=provider, kind="fee_revenue", currency="EUR", livemode=False
        ),
        "payable": services.ensure_account(
            owner=merchant, kind="merchant_payable", currency="EUR", livemode=False
        ),
    }
    run_id = unique("run")
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    database_name = connection.settings_dict["NAME"]
    workers = [
        context.Process(
            target=posting_worker.run,
            args=(
                i,
                accounts,
                run_id,
                errors,
                database_name,
                POSTINGS_PER_PROCESS,
                SHARED_REFERENCES,
            ),
        )
        for i in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0] * PROCESSES
    assert sum(errors.get(timeout=5) for _ in workers) == 0

    transactions = PROCESSES * POSTINGS_PER_PROCESS + SHARED_REFERENCES
    receivable = selectors.account_balance(account_id=accounts["receivable"])
    assert receivable.posted_minor == 100 * transactions
    assert (
        selectors.account_balance(account_id=accounts["payable"]).posted_minor == 97 * transactions
    )
    assert selectors.account_balance(account_id=accounts["fees"]).posted_minor == 3 * transactions
    run = services.run_trial_balance(livemode=False)
    assert run.ok, run.failures


REFUND_THREADS = 4
REFUNDS_PER_THREAD = 5


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_of_one_payment_never_exceed_the_capture():
    """Threads race to refund one payment; the hold row lock makes the guard rail exact."""
    payment_id = unique("pay")
    services.place_hold(
        payment_id=payment_id,
        reference=f"{payment_id}:hold",
        merchant_id=unique("acct"),
        provider=unique("sim"),
        amount_minor=10_000,
        currency="EUR",
        livemode=False,
    )
    services.capture_hold(
        payment_id=payment_id, reference=f"{payment_id}:cap", amount_minor=9_000, livemode=False
    )
    outcomes: list[str] = []

    def refund_repeatedly(thread: int) -> None:
        try:
            for n in range(REFUNDS_PER_THREAD):
                try:
                    services.post_refund(
                        payment_id=payment_id,
                        reference=f"{payment_id}:re:{thread}:{n}",
                        amount_minor=1_000,
                        livemode=False,
                    )
                    outcomes.append("refunded")
                except LedgerInvalidState:
                    outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund_repeatedly, args=(i,)) for i in range(REFUND_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == REFUND_THREADS * REFUNDS_PER_THREAD  # no other error escaped
    assert outcomes.count("refunded") == 9
    summary = selectors.payment_summary(payment_id=payment_id)
    assert (summary.captured_minor, summary.refunded_minor, summary.balanced) == (
        9_000,
        9_000,
        True,
    )
