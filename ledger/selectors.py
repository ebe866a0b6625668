"""ledger: reads — balances (now and as of a time), a payment's entries and summary, lookups.

Current balances come from the cached `ledger_account_balances` row (one primary-key read);
as-of balances from the running totals stored on the account's last entry at or before that
time (one index probe on (account_id, ts, entry_id)). Both are checked against the sum of
entries by the trial balance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from core.errors import NotFound
from ledger.chart import HOLD_KINDS
from ledger.models import TrialBalanceRun

# account id → currency; an account's currency never changes, so this cache never goes stale.
_CURRENCY_BY_ACCOUNT: dict[int, str] = {}
MAX_OWNER_ACCOUNTS = 200


@dataclass(frozen=True)
class Balance:
    """An account's balance in its normal side's sign (a credit-normal liability is positive)."""

    account_id: int
    owner: str
    kind: str
    currency: str
    posted_minor: int  # every entry booked
    pending_minor: int  # open authorization holds of this owner in this currency
    available_minor: int  # posted less pending outflows (none are modelled yet: = posted)


@dataclass(frozen=True)
class EntryRow:
    entry_id: int
    transaction_id: int
    kind: str
    account_owner: str
    account_kind: str
    debit_minor: int
    credit_minor: int
    currency: str
    ts: datetime


@dataclass(frozen=True)
class PaymentLedgerSummary:
    payment_id: str
    held_minor: int  # open authorization hold
    captured_minor: int
    refunded_minor: int
    balanced: bool  # every transaction of the payment balances per currency
    authorized_minor: int = 0  # net of the payment's auth_hold transactions (reversals included)


@dataclass(frozen=True)
class TransactionRow:
    id: int
    kind: str
    reference: str
    payment_id: str
    ts: datetime
    request_digest: str = ""  # what the posting was asked to do, compared on replay


@dataclass(frozen=True)
class LineRow:
    account_id: int
    debit_minor: int
    credit_minor: int


@dataclass(frozen=True)
class HoldRow:
    payment_id: str
    merchant_id: str
    provider: str
    currency: str


def remember_account_currency(*, account_id: int, currency: str) -> None:
    _CURRENCY_BY_ACCOUNT[account_id] = currency


def account_currencies(*, account_ids: list[int]) -> dict[int, str]:
    """Currencies of the given accounts (unknown ids are absent)."""
    missing = [i for i in set(account_ids) if i not in _CURRENCY_BY_ACCOUNT]
    if missing:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, currency FROM ledger_accounts WHERE id = ANY(%s::bigint[])", [missing]
            )
            _CURRENCY_BY_ACCOUNT.update(dict(cursor.fetchall()))
    return {i: _CURRENCY_BY_ACCOUNT[i] for i in account_ids if i in _CURRENCY_BY_ACCOUNT}


def _signed(normal_side: str, debit_minor: int, credit_minor: int) -> int:
    return debit_minor - credit_minor if normal_side == "debit" else credit_minor - debit_minor


def _totals_as_of(cursor, account_id: int, as_of: datetime) -> tuple[int, int]:
    cursor.execute(
        "SELECT running_debit, running_credit FROM ledger_entries "
        "WHERE account_id = %s AND ts <= %s ORDER BY ts DESC, entry_id DESC LIMIT 1",
        [account_id, as_of],
    )
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, 0)


# One read: the account, its cached totals, and the owner's hold account (the SQL CASE mirrors
# chart.hold_account_kind) for the pending amount.
_BALANCE_SQL = """
SELECT a.owner, a.kind, a.currency, a.normal_side, b.debit_total, b.credit_total,
       h.id, h.normal_side, hb.debit_total, hb.credit_total
FROM ledger_accounts a
JOIN ledger_account_balances b ON b.account_id = a.id
LEFT JOIN ledger_accounts h
       ON h.owner = a.owner AND h.currency = a.currency AND h.id <> a.id
      AND h.kind = CASE WHEN a.owner LIKE 'merchant:%%' THEN 'merchant_pending'
                        WHEN a.owner LIKE 'provider:%%' THEN 'psp_authorizations' END
LEFT JOIN ledger_account_balances hb ON hb.account_id = h.id
WHERE a.id = %s
"""


def balance_figures(
    *,
    kind: str,
    normal_side: str,
    debit_minor: int,
    credit_minor: int,
    hold_side: str | None,
    hold_debit_minor: int = 0,
    hold_credit_minor: int = 0,
) -> tuple[int, int, int]:
    """(posted, pending, available) of an account from its totals and its owner's hold account's
    (hold_side None: the owner has none). One definition for the selectors and the admin."""
    posted_minor = _signed(normal_side, debit_minor, credit_minor)
    if kind in HOLD_KINDS:
        pending_minor = posted_minor
    elif hold_side is not None:
        pending_minor = _signed(hold_side, hold_debit_minor, hold_credit_minor)
    else:
        pending_minor = 0
    available_minor = 0 if kind in HOLD_KINDS else posted_minor
    return posted_minor, pending_minor, available_minor


def account_balance(*, account_id: int, as_of: datetime | None = None) -> Balance:
    """Posted, pending and available balance of one account, now or as of a past time."""
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_SQL, [account_id])
        row = cursor.fetchone()
        if row is None:
            raise NotFound(f"No ledger account {account_id}.", param="account_id")
        owner, kind, currency, side, debit, credit, hold_id, hold_side, h_debit, h_credit = row
        if as_of is not None:
            debit, credit = _totals_as_of(cursor, account_id, as_of)
            if hold_id is not None:
                h_debit, h_credit = _totals_as_of(cursor, hold_id, as_of)
    posted_minor, pending_minor, available_minor = balance_figures(
        kind=kind,
        normal_side=side,
        debit_minor=debit,
        credit_minor=credit,
        hold_side=hold_side if hold_id is not None else None,
        hold_debit_minor=h_debit or 0,
        hold_credit_minor=h_credit or 0,
    )
    return Balance(
        account_id=account_id,
        owner=owner,
        kind=kind,
        currency=currency,
        posted_minor=posted_minor,
        pending_minor=pending_minor,
        available_minor=available_minor,
    )


def owner_balances(*, owner: str, as_of: datetime | None = None) -> list[Balance]:
    """The balance of every account of an owner (all kinds and currencies)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ledger_accounts WHERE owner = %s ORDER BY kind, currency LIMIT %s",
            [owner, MAX_OWNER_ACCOUNTS],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return [account_balance(account_id=i, as_of=as_of) for i in ids]


def owner_totals(*, owner: str, as_of: datetime | None = None) -> dict[str, int]:
    """The sum of an owner's posted balances per currency (each in its account's normal sign)."""
    totals: dict[str, int] = defaultdict(int)
    for balance in owner_balances(owner=owner, as_of=as_of):
        totals[balance.currency] += balance.posted_minor
    return dict(totals)


def payment_entries(*, payment_id: str) -> list[EntryRow]:
    """Every entry booked for a payment, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.entry_id, e.transaction_id, t.kind, a.owner, a.kind, e.debit, e.credit, "
            "e.currency, e.ts FROM ledger_entries e "
            "JOIN ledger_transactions t ON t.id = e.transaction_id AND t.payment_id = e.payment_id "
            "JOIN ledger_accounts a ON a.id = e.account_id "
            "WHERE e.payment_id = %s ORDER BY e.ts, e.entry_id",
            [payment_id],
        )
        return [EntryRow(*row) for row in cursor.fetchall()]


_SUMMARY_SQL = (
    "SELECT e.transaction_id, e.currency, t.kind, a.kind, sum(e.debit), sum(e.credit) "
    "FROM ledger_entries e "
    "JOIN ledger_transactions t ON t.id = e.transaction_id AND t.payment_id = e.payment_id "
    "JOIN ledger_accounts a ON a.id = e.account_id "
)


def _summarize(payment_id: str, rows: list[tuple]) -> PaymentLedgerSummary:
    held = captured = refunded = authorized = 0
    net_by_txn: dict[tuple[int, str], int] = defaultdict(int)
    for txn_id, currency, txn_kind, account_kind, debit, credit in rows:
        net_by_txn[(txn_id, currency)] += debit - credit
        if account_kind == "psp_authorizations":
            held += debit - credit
            if txn_kind == "auth_hold":
                authorized += debit - credit
        elif account_kind == "merchant_payable" and txn_kind == "capture":
            captured += credit - debit
        elif account_kind == "merchant_payable" and txn_kind == "refund":
            refunded += debit - credit
    return PaymentLedgerSummary(
        payment_id=payment_id,
        held_minor=int(held),
        captured_minor=int(captured),
        refunded_minor=int(refunded),
        balanced=all(net == 0 for net in net_by_txn.values()),
        authorized_minor=int(authorized),
    )


def payment_summary(*, payment_id: str) -> PaymentLedgerSummary:
    """Held, captured and refunded amounts of a payment, derived from its entries alone."""
    with connection.cursor() as cursor:
        cursor.execute(_SUMMARY_SQL + "WHERE e.payment_id = %s GROUP BY 1, 2, 3, 4", [payment_id])
        return _summarize(payment_id, cursor.fetchall())


def transaction_summary(
    *, transaction_id: int, payment_id: str, ts: datetime
) -> PaymentLedgerSummary:
    """One transaction's contribution to its payment's summary (what reversing it takes away)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _SUMMARY_SQL + "WHERE e.transaction_id = %s AND e.payment_id = %s AND e.ts = %s "
            "GROUP BY 1, 2, 3, 4",
            [transaction_id, payment_id, ts],
        )
        return _summarize(payment_id, cursor.fetchall())


def find_transaction(*, kind: str, reference: str) -> TransactionRow | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, kind, reference, payment_id, ts, request_digest FROM ledger_transactions "
            "WHERE kind = %s AND reference = %s LIMIT 1",
            [kind, reference],
        )
        row = cursor.fetchone()
    return TransactionRow(*row) if row else None


def get_transaction(*, transaction_id: int) -> TransactionRow | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, kind, reference, payment_id, ts, request_digest FROM ledger_transactions "
            "WHERE id = %s",
            [transaction_id],
        )
        row = cursor.fetchone()
    return TransactionRow(*row) if row else None


def reversal_of(*, transaction_id: int) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ledger_transactions WHERE reverses_id = %s LIMIT 1", [transaction_id]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def transaction_lines(*, transaction_id: int, ts: datetime) -> list[LineRow]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT account_id, debit, credit FROM ledger_entries "
            "WHERE transaction_id = %s AND ts = %s ORDER BY entry_id",
            [transaction_id, ts],
        )
        return [LineRow(*row) for row in cursor.fetchall()]


def lock_hold(*, payment_id: str) -> HoldRow | None:
    """The payment's hold row, locked until the end of the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payment_id, merchant_id, provider, currency FROM ledger_holds "
            "WHERE payment_id = %s FOR UPDATE",
            [payment_id],
        )
        row = cursor.fetchone()
    return HoldRow(*row) if row else None


@dataclass(frozen=True)
class TrialBalanceRunRow:
    started_at: datetime
    ok: bool
    duration_ms: int
    entries_count: int
    failures_count: int


def trial_balance_runs(*, limit: int = 1) -> list[TrialBalanceRunRow]:
    """The latest trial-balance runs, newest first."""
    return [
        TrialBalanceRunRow(
            started_at=run.started_at,
            ok=run.ok,
            duration_ms=run.duration_ms,
            entries_count=run.entries_count,
            failures_count=len(run.failures or []),
        )
        for run in TrialBalanceRun.objects.order_by("-started_at")[:limit]
    ]
