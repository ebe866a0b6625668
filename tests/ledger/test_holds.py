"""Two-phase holds: place, release in part or in full, capture (releasing the rest), refund."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from ledger import selectors, services
from ledger.errors import LedgerIdempotencyConflict, LedgerInvalidState
from tests.ledger.conftest import unique


@pytest.fixture
def hold(db):
    payment_id, merchant, provider = unique("pay"), unique("acct"), unique("sim")
    services.place_hold(
        payment_id=payment_id,
        reference=f"{payment_id}:hold",
        merchant_id=merchant,
        provider=provider,
        amount_minor=10_000,
        currency="eur",
        livemode=False,
    )
    return {"payment_id": payment_id, "merchant": merchant, "provider": provider}


def _balance(owner: str, kind: str) -> int:
    account_id = services.ensure_account(owner=owner, kind=kind, currency="EUR", livemode=False)
    return selectors.account_balance(account_id=account_id).posted_minor


def test_hold_shows_as_pending_not_available(hold):
    payable = services.ensure_account(
        owner=f"merchant:{hold['merchant']}",
        kind="merchant_payable",
        currency="EUR",
        livemode=False,
    )
    balance = selectors.account_balance(account_id=payable)
    assert (balance.posted_minor, balance.pending_minor, balance.available_minor) == (0, 10_000, 0)
    assert selectors.payment_summary(payment_id=hold["payment_id"]).held_minor == 10_000


def test_partial_capture_releases_the_remainder(hold):
    pid = hold["payment_id"]
    services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=6_000, livemode=False
    )

    summary = selectors.payment_summary(payment_id=pid)
    assert (summary.held_minor, summary.captured_minor, summary.balanced) == (0, 6_000, True)
    assert _balance(f"merchant:{hold['merchant']}", "merchant_payable") == 6_000
    assert _balance(f"merchant:{hold['merchant']}", "merchant_pending") == 0
    assert _balance(f"provider:{hold['provider']}", "psp_receivable") == 6_000
    assert _balance(f"provider:{hold['provider']}", "psp_authorizations") == 0


def test_capture_beyond_the_hold_is_refused(hold):
    pid = hold["payment_id"]
    with pytest.raises(LedgerInvalidState) as info:
        services.capture_hold(
            payment_id=pid, reference=f"{pid}:cap", amount_minor=10_001, livemode=False
        )
    assert info.value.code == "ledger_capture_exceeds_hold"


def test_second_capture_after_the_hold_is_gone_is_refused(hold):
    pid = hold["payment_id"]
    services.capture_hold(payment_id=pid, reference=f"{pid}:cap", amount_minor=100, livemode=False)
    with pytest.raises(LedgerInvalidState):
        services.capture_hold(
            payment_id=pid, reference=f"{pid}:cap2", amount_minor=100, livemode=False
        )


def test_retried_capture_replays_instead_of_failing(hold):
    pid = hold["payment_id"]
    first = services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=100, livemode=False
    )
    again = services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=100, livemode=False
    )
    assert (again.id, again.created) == (first.id, False)


def test_release_in_part_then_the_rest(hold):
    pid = hold["payment_id"]
    services.release_hold(
        payment_id=pid, reference=f"{pid}:rel1", amount_minor=2_500, livemode=False
    )
    assert selectors.payment_summary(payment_id=pid).held_minor == 7_500
    services.release_hold(payment_id=pid, reference=f"{pid}:void", livemode=False)
    assert selectors.payment_summary(payment_id=pid).held_minor == 0
    with pytest.raises(LedgerInvalidState) as info:
        services.release_hold(
            payment_id=pid, reference=f"{pid}:rel2", amount_minor=1, livemode=False
        )
    assert info.value.code == "ledger_release_exceeds_hold"


def test_refunds_never_exceed_captured_minus_refunded(hold):
    pid = hold["payment_id"]
    services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=8_000, livemode=False
    )
    services.post_refund(payment_id=pid, reference=f"{pid}:re1", amount_minor=5_000, livemode=False)
    with pytest.raises(LedgerInvalidState) as info:
        services.post_refund(
            payment_id=pid, reference=f"{pid}:re2", amount_minor=3_001, livemode=False
        )
    assert info.value.code == "ledger_refund_exceeds_captured"
    services.post_refund(payment_id=pid, reference=f"{pid}:re3", amount_minor=3_000, livemode=False)

    summary = selectors.payment_summary(payment_id=pid)
    assert (summary.captured_minor, summary.refunded_minor) == (8_000, 8_000)
    assert _balance(f"merchant:{hold['merchant']}", "merchant_payable") == 0


def test_a_payment_gets_only_one_hold(hold):
    with pytest.raises(LedgerInvalidState) as info:
        services.place_hold(
            payment_id=hold["payment_id"],
            reference=unique("hold"),
            merchant_id=hold["merchant"],
            provider=hold["provider"],
            amount_minor=1,
            currency="EUR",
            livemode=False,
        )
    assert info.value.code == "ledger_hold_exists"


def test_payment_entries_list_what_the_payment_booked(hold):
    pid = hold["payment_id"]
    services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=4_000, livemode=False
    )
    entries = selectors.payment_entries(payment_id=pid)
    assert [(e.kind, e.account_kind, e.debit_minor, e.credit_minor) for e in entries] == [
        ("auth_hold", "psp_authorizations", 10_000, 0),
        ("auth_hold", "merchant_pending", 0, 10_000),
        ("capture", "merchant_pending", 10_000, 0),
        ("capture", "psp_authorizations", 0, 10_000),
        ("capture", "psp_receivable", 4_000, 0),
        ("capture", "merchant_payable", 0, 4_000),
    ]


# --- reversals may not break the payment's invariants ---------------------------------------


def test_reversing_a_capture_after_its_refund_is_refused(hold):
    pid = hold["payment_id"]
    capture = services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=6_000, livemode=False
    )
    refund = services.post_refund(
        payment_id=pid, reference=f"{pid}:re", amount_minor=6_000, livemode=False
    )

    with pytest.raises(LedgerInvalidState) as info:
        services.reverse_transaction(transaction_id=capture.id, reference=f"{pid}:rev-cap")
    assert info.value.code == "ledger_reversal_breaks_invariants"
    summary = selectors.payment_summary(payment_id=pid)
    assert (summary.captured_minor, summary.refunded_minor) == (6_000, 6_000)

    # in the right order (refund first, then capture) both reversals are fine
    services.reverse_transaction(transaction_id=refund.id, reference=f"{pid}:rev-re")
    services.reverse_transaction(transaction_id=capture.id, reference=f"{pid}:rev-cap")
    summary = selectors.payment_summary(payment_id=pid)
    assert (summary.held_minor, summary.captured_minor, summary.refunded_minor) == (10_000, 0, 0)


def test_reversing_the_hold_after_a_capture_is_refused(hold):
    pid = hold["payment_id"]
    services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=10_000, livemode=False
    )
    hold_txn = selectors.find_transaction(kind="auth_hold", reference=f"{pid}:hold")

    with pytest.raises(LedgerInvalidState) as info:
        services.reverse_transaction(transaction_id=hold_txn.id, reference=f"{pid}:rev-hold")
    assert info.value.code == "ledger_reversal_breaks_invariants"
    assert selectors.payment_summary(payment_id=pid).held_minor == 0


def test_reversing_a_partial_release_after_capture_cannot_exceed_the_authorization(hold):
    """held + captured never exceeds what was authorized (here: 10,000)."""
    pid = hold["payment_id"]
    release = services.release_hold(
        payment_id=pid, reference=f"{pid}:rel", amount_minor=4_000, livemode=False
    )
    services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=6_000, livemode=False
    )
    # held 0, captured 6,000: giving back the 4,000 release would hold 4,000 beside it — fine
    services.reverse_transaction(transaction_id=release.id, reference=f"{pid}:rev-rel")
    summary = selectors.payment_summary(payment_id=pid)
    assert (summary.held_minor, summary.captured_minor, summary.authorized_minor) == (
        4_000,
        6_000,
        10_000,
    )


# --- replays: same request only; a racing retry gets the replay ------------------------------


def test_capture_replay_with_another_amount_is_a_conflict(hold):
    pid = hold["payment_id"]
    services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=6_000, livemode=False
    )
    with pytest.raises(LedgerIdempotencyConflict):
        services.capture_hold(
            payment_id=pid, reference=f"{pid}:cap", amount_minor=7_000, livemode=False
        )
    again = services.capture_hold(
        payment_id=pid, reference=f"{pid}:cap", amount_minor=6_000, livemode=False
    )
    assert not again.created


def test_hold_replay_for_another_payment_is_a_conflict(hold):
    pid = hold["payment_id"]
    with pytest.raises(LedgerIdempotencyConflict):
        services.place_hold(
            payment_id=unique("pay"),
            reference=f"{pid}:hold",
            merchant_id=hold["merchant"],
            provider=hold["provider"],
            amount_minor=10_000,
            currency="EUR",
            livemode=False,
        )


def _race_retry(original, retry) -> tuple[object, object]:
    """Run `original` in a transaction that stays open until `retry` (another thread, same
    reference) is waiting on the payment's lock; return both results (or exceptions)."""
    results: dict[str, object] = {}
    posted = threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                results["original"] = original()
                posted.set()
                time.sleep(RACE_HOLD_OPEN_S)  # the retry arrives while we have not committed
        finally:
            posted.set()
            connection.close()

    def second() -> None:
        posted.wait(timeout=10)
        try:
            results["retry"] = retry()
        except Exception as exc:  # the test reports whatever the retry got
            results["retry"] = exc
        finally:
            connection.close()

    _run_at_once(first, second)
    return results["original"], results["retry"]


def _run_at_once(*targets) -> None:
    """Each target in a thread of its own; wait for all of them."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


RACE_HOLD_OPEN_S = 0.5


@pytest.mark.django_db(transaction=True)
def test_capture_retry_racing_the_original_gets_the_replay():
    pid = unique("pay")
    services.place_hold(
        payment_id=pid, reference=f"{pid}:hold", merchant_id=unique("acct"),
        provider=unique("sim"), amount_minor=10_000, currency="EUR", livemode=False,
    )  # fmt: skip

    def capture():
        return services.capture_hold(
            payment_id=pid, reference=f"{pid}:cap", amount_minor=6_000, livemode=False
        )

    original, retry = _race_retry(capture, capture)
    assert original.created
    assert not isinstance(retry, Exception), retry
    assert (retry.id, retry.created) == (original.id, False)


@pytest.mark.django_db(transaction=True)
def test_hold_retry_racing_the_original_gets_the_replay():
    pid, merchant, provider = unique("pay"), unique("acct"), unique("sim")
    # Existing accounts, as in production (creating them would serialize the two callers).
    services.ensure_account(
        owner=f"provider:{provider}", kind="psp_authorizations", currency="EUR", livemode=False
    )
    services.ensure_account(
        owner=f"merchant:{merchant}", kind="merchant_pending", currency="EUR", livemode=False
    )

    def hold():
        return services.place_hold(
            payment_id=pid, reference=f"{pid}:hold", merchant_id=merchant, provider=provider,
            amount_minor=10_000, currency="EUR", livemode=False,
        )  # fmt: skip

    original, retry = _race_retry(hold, hold)
    assert original.created
    assert not isinstance(retry, Exception), retry
    assert (retry.id, retry.created) == (original.id, False)


# --- sales: the hold and its full capture booked together ------------------------------------


def _sale(pid: str, merchant: str, provider: str, amount_minor: int = 10_000):
    with transaction.atomic():
        return services.place_and_capture_hold(
            payment_id=pid, hold_reference=f"{pid}:hold", capture_reference=f"{pid}:capture",
            merchant_id=merchant, provider=provider, amount_minor=amount_minor, currency="eur",
            livemode=False,
        )  # fmt: skip


def test_a_sale_books_what_a_hold_then_a_full_capture_books(db):
    sold = unique("pay"), unique("acct"), unique("sim")
    two_step = unique("pay"), unique("acct"), unique("sim")
    hold, capture = _sale(*sold)
    pid, merchant, provider = two_step
    services.place_hold(
        payment_id=pid, reference=f"{pid}:hold", merchant_id=merchant, provider=provider,
        amount_minor=10_000, currency="eur", livemode=False,
    )  # fmt: skip
    services.capture_hold(
        payment_id=pid, reference=f"{pid}:capture", amount_minor=10_000, livemode=False
    )

    assert (hold.kind, capture.kind, hold.created, capture.created) == (
        "auth_hold", "capture", True, True,
    )  # fmt: skip
    for pid, merchant, provider in (sold, two_step):
        summary = selectors.payment_summary(payment_id=pid)
        assert (summary.held_minor, summary.captured_minor, summary.authorized_minor) == (
            0, 10_000, 10_000,
        )  # fmt: skip
        assert summary.balanced
        assert _balance(f"merchant:{merchant}", "merchant_payable") == 10_000
        assert _balance(f"merchant:{merchant}", "merchant_pending") == 0
        assert _balance(f"provider:{provider}", "psp_receivable") == 10_000
        assert _balance(f"provider:{provider}", "psp_authorizations") == 0
    lines = {
        pid: sorted(
            (entry.kind, entry.account_kind, entry.debit_minor, entry.credit_minor)
            for entry in selectors.payment_entries(payment_id=pid)
        )
        for pid in (sold[0], two_step[0])
    }
    assert lines[sold[0]] == lines[two_step[0]]


def test_a_replayed_sale_answers_with_the_first_postings(db):
    pid, merchant, provider = unique("pay"), unique("acct"), unique("sim")
    first = _sale(pid, merchant, provider)
    again = _sale(pid, merchant, provider)
    assert [(p.id, p.created) for p in again] == [(p.id, False) for p in first]
    assert selectors.payment_summary(payment_id=pid).captured_minor == 10_000


def test_a_sale_replayed_with_another_amount_is_a_conflict(db):
    pid, merchant, provider = unique("pay"), unique("acct"), unique("sim")
    _sale(pid, merchant, provider)
    with pytest.raises(LedgerIdempotencyConflict):
        _sale(pid, merchant, provider, amount_minor=9_999)


def test_a_sale_after_a_plain_hold_is_refused(hold):
    pid = hold["payment_id"]
    with pytest.raises(LedgerIdempotencyConflict):
        _sale(pid, hold["merchant"], hold["provider"], amount_minor=5_000)
    assert selectors.payment_summary(payment_id=pid).captured_minor == 0


@pytest.mark.django_db(transaction=True)
def test_a_sale_needs_the_payments_transaction():
    with pytest.raises(LedgerInvalidState):
        services.place_and_capture_hold(
            payment_id=unique("pay"), hold_reference="h", capture_reference="c",
            merchant_id=unique("acct"), provider=unique("sim"), amount_minor=100, currency="EUR",
            livemode=False,
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_sale_retry_racing_the_original_gets_the_replay():
    pid, merchant, provider = unique("pay"), unique("acct"), unique("sim")
    for owner, kinds in (
        (f"provider:{provider}", ("psp_authorizations", "psp_receivable")),
        (f"merchant:{merchant}", ("merchant_pending", "merchant_payable")),
    ):
        for kind in kinds:
            services.ensure_account(owner=owner, kind=kind, currency="EUR", livemode=False)

    def sale():
        return services.place_and_capture_hold(
            payment_id=pid, hold_reference=f"{pid}:hold", capture_reference=f"{pid}:capture",
            merchant_id=merchant, provider=provider, amount_minor=10_000, currency="EUR",
            livemode=False,
        )  # fmt: skip

    def sale_in_transaction():
        with transaction.atomic():
            return sale()

    original, retry = _race_retry(sale, sale_in_transaction)
    assert all(posting.created for posting in original)
    assert not isinstance(retry, Exception), retry
    assert [(p.id, p.created) for p in retry] == [(p.id, False) for p in original]
    assert selectors.payment_summary(payment_id=pid).captured_minor == 10_000


@pytest.mark.django_db(transaction=True)
def test_a_sale_that_loses_a_deadlock_is_retried_inside_its_statement():
    """Another transaction holds the capture's receivable row, then asks for the hold's row the
    sale already has: a lock cycle. The sale (its deadlock check fires first) is the victim; its
    postings are rolled back to the function's subtransaction and run again once the other
    transaction is done, without failing the payment's transaction."""
    pid, merchant, provider = unique("pay"), unique("acct"), unique("sim")
    ids = {
        kind: services.ensure_account(owner=owner, kind=kind, currency="EUR", livemode=False)
        for owner, kinds in (
            (f"provider:{provider}", ("psp_authorizations", "psp_receivable")),
            (f"merchant:{merchant}", ("merchant_pending", "merchant_payable")),
        )
        for kind in kinds
    }
    lock_sql = "SELECT 1 FROM ledger_account_balances WHERE account_id = %s FOR UPDATE"
    sale_pid: dict[str, int] = {}
    holding, sale_started = threading.Event(), threading.Event()
    results: dict[str, object] = {}
    notices: list[str] = []

    def blocker() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '10s'")
                cursor.execute(lock_sql, [ids["psp_receivable"]])
                holding.set()
                sale_started.wait(timeout=10)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:  # until the sale waits for our row
                    cursor.execute(
                        "SELECT pg_backend_pid() = ANY(pg_blocking_pids(%s))", [sale_pid["pid"]]
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.01)
                cursor.execute(lock_sql, [ids["psp_authorizations"]])  # closes the cycle
                results["blocker"] = "committed"
        except Exception as exc:  # the test reports whatever the blocker got
            results["blocker"] = exc
        finally:
            connection.close()

    def sale() -> None:
        holding.wait(timeout=10)
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL deadlock_timeout = '100ms'")
                    cursor.execute("SELECT pg_backend_pid()")
                    sale_pid["pid"] = cursor.fetchone()[0]
                connection.connection.add_notice_handler(
                    lambda diag: notices.append(diag.message_primary or "")
                )
                sale_started.set()
                results["sale"] = services.place_and_capture_hold(
                    payment_id=pid, hold_reference=f"{pid}:hold",
                    capture_reference=f"{pid}:capture", merchant_id=merchant, provider=provider,
                    amount_minor=10_000, currency="EUR", livemode=False,
                )  # fmt: skip
        except Exception as exc:
            results["sale"] = exc
        finally:
            sale_started.set()
            connection.close()

    _run_at_once(blocker, sale)
    assert results["blocker"] == "committed"
    assert not isinstance(results["sale"], Exception), results["sale"]
    assert [p.created for p in results["sale"]] == [True, True]
    assert any("retried after 40P01" in notice for notice in notices), notices
    summary = selectors.payment_summary(payment_id=pid)
    assert (summary.captured_minor, summary.held_minor, summary.balanced) == (10_000, 0, True)
