"""ledger: the trial balance — the nightly proof that the books add up, one mode at a time.

Test and live money are separate books (accounts per mode): a run checks the accounts of one
mode and is stored as that mode's run. It checks, on one consistent snapshot, partition by
partition: total debits equal total credits per currency; every journal transaction balances
per currency within the mode and has at least two entries; the
cached balance rows and the running totals on each account's last entry equal the sums of its
entries; and every partition still carries its guard triggers, enabled (a partition attached by
hand, or a guard disabled by an owner, would let entries bypass the checks). Each run is stored as
a TrialBalanceRun; a failed run is logged as an error (Sentry).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from ledger.models import TrialBalanceRun

logger = logging.getLogger(__name__)

# A broken ledger could fail on millions of rows; we report this many and count the rest.
MAX_FAILURES_REPORTED = 100


@dataclass
class _Totals:
    debit: int = 0
    credit: int = 0
    count: int = 0


@dataclass
class _Findings:
    failures: list[dict] = field(default_factory=list)
    failure_count: int = 0

    def add(self, check: str, **details: object) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_FAILURES_REPORTED:
            self.failures.append({"check": check, **details})


def _partitions(cursor) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'ledger_entries'::regclass ORDER BY c.relname"
    )
    return [row[0] for row in cursor.fetchall()]


# The entries of one partition on the accounts of one mode (partition names come from
# pg_inherits, not from input).
_MODE_ENTRIES = (
    'FROM "{partition}" e JOIN ledger_accounts a ON a.id = e.account_id WHERE a.livemode = %s '
)


def _scan_partition(
    cursor,
    partition: str,
    livemode: bool,
    by_account: dict[tuple[int, str], _Totals],
    findings: _Findings,
) -> int:
    """Add the partition's entries of the mode to `by_account`, report its transactions that do
    not balance in the mode; return how many transactions have entries there in the mode."""
    entries = _MODE_ENTRIES.format(partition=partition)
    cursor.execute(
        "SELECT e.account_id, e.currency, sum(e.debit), sum(e.credit), count(*) "
        + entries
        + "GROUP BY e.account_id, e.currency",
        [livemode],
    )
    for account_id, currency, debit, credit, count in cursor.fetchall():
        totals = by_account[(account_id, currency)]
        totals.debit += int(debit)
        totals.credit += int(credit)
        totals.count += count
    # Entries of a transaction share its ts, hence its partition: per-partition is exact.
    cursor.execute(
        "SELECT e.transaction_id, e.currency, sum(e.debit), sum(e.credit) "
        + entries
        + "GROUP BY e.transaction_id, e.currency HAVING sum(e.debit) <> sum(e.credit) LIMIT %s",
        [livemode, MAX_FAILURES_REPORTED],
    )
    for txn_id, currency, debit, credit in cursor.fetchall():
        findings.add(
            "transaction_unbalanced",
            transaction_id=txn_id,
            currency=currency,
            livemode=livemode,
            debit=int(debit),
            credit=int(credit),
        )
    cursor.execute("SELECT count(DISTINCT e.transaction_id) " + entries, [livemode])
    return cursor.fetchone()[0]


# trigger name → the partitions that must carry it (enabled)
_PARTITION_GUARDS = {
    "ledger_entries_one_statement": "every",
    "ledger_entries_no_truncate": "every",
    "ledger_entries_append_only": "every",  # cloned from the parent, but can be disabled
    "ledger_entries_default_refuse": "default",
}


def _check_partition_guards(cursor, partitions: list[str], findings: _Findings) -> None:
    cursor.execute(
        "SELECT c.relname, t.tgname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_trigger t ON t.tgrelid = c.oid "
        "WHERE i.inhparent = 'ledger_entries'::regclass AND t.tgenabled <> 'D'"
    )
    enabled = set(cursor.fetchall())
    for partition in partitions:
        for trigger, scope in _PARTITION_GUARDS.items():
            if scope == "default" and partition != "ledger_entries_default":
                continue
            if (partition, trigger) not in enabled:
                findings.add("partition_unguarded", partition=partition, trigger=trigger)


def _check_currencies(
    by_account: dict[tuple[int, str], _Totals], livemode: bool, findings: _Findings
) -> None:
    by_currency: dict[str, _Totals] = defaultdict(_Totals)
    for (_, currency), totals in by_account.items():
        by_currency[currency].debit += totals.debit
        by_currency[currency].credit += totals.credit
    for currency, totals in sorted(by_currency.items()):
        if totals.debit != totals.credit:
            findings.add(
                "currency_unbalanced",
                currency=currency,
                livemode=livemode,
                debit=totals.debit,
                credit=totals.credit,
            )


def _check_cached_balances(
    cursor, by_account: dict[tuple[int, str], _Totals], livemode: bool, findings: _Findings
) -> int:
    summed: dict[int, _Totals] = {account_id: t for (account_id, _), t in by_account.items()}
    cursor.execute(
        "SELECT b.account_id, b.debit_total, b.credit_total, b.entry_count FROM "
        "ledger_account_balances b JOIN ledger_accounts a ON a.id = b.account_id "
        "WHERE a.livemode = %s",
        [livemode],
    )
    rows = cursor.fetchall()
    for account_id, debit, credit, count in rows:
        expected = summed.get(account_id, _Totals())
        if (debit, credit, count) != (expected.debit, expected.credit, expected.count):
            findings.add(
                "cached_balance_differs",
                account_id=account_id,
                cached=[debit, credit, count],
                entries=[expected.debit, expected.credit, expected.count],
            )
    cursor.execute(
        "SELECT DISTINCT ON (e.account_id) e.account_id, e.running_debit, e.running_credit, "
        "b.debit_total, b.credit_total FROM ledger_entries e "
        "JOIN ledger_account_balances b ON b.account_id = e.account_id "
        "JOIN ledger_accounts a ON a.id = e.account_id WHERE a.livemode = %s "
        "ORDER BY e.account_id, e.ts DESC, e.entry_id DESC",
        [livemode],
    )
    for account_id, run_debit, run_credit, debit, credit in cursor.fetchall():
        if (run_debit, run_credit) != (debit, credit):
            findings.add(
                "running_total_differs",
                account_id=account_id,
                running=[run_debit, run_credit],
                cached=[debit, credit],
            )
    return len(rows)


def _check_entry_counts(cursor, livemode: bool, findings: _Findings) -> None:
    """Transactions with fewer than two entries: those with an entry in the mode, and those with
    none at all (they belong to no mode: every run reports them)."""
    cursor.execute(
        "SELECT t.id, count(e.entry_id) FROM ledger_transactions t "
        "LEFT JOIN ledger_entries e ON e.transaction_id = t.id AND e.ts = t.ts "
        "LEFT JOIN ledger_accounts a ON a.id = e.account_id "
        "GROUP BY t.id HAVING count(e.entry_id) < 2 "
        "AND (count(e.entry_id) = 0 OR bool_or(a.livemode = %s)) LIMIT %s",
        [livemode, MAX_FAILURES_REPORTED],
    )
    for txn_id, count in cursor.fetchall():
        findings.add("transaction_too_few_entries", transaction_id=txn_id, entries=count)


def run_trial_balance(
    *, livemode: bool, progress: Callable[[Iterable[str]], Iterable[str]] | None = None
) -> TrialBalanceRun:
    """Check one mode's books on one snapshot, store the run, log an error when it fails. The
    partition guards protect both modes: every run checks them."""
    started_at, started_s = timezone.now(), time.monotonic()
    findings = _Findings()
    by_account: dict[tuple[int, str], _Totals] = defaultdict(_Totals)
    transactions_count = 0
    standalone = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if standalone:  # one snapshot for every check; a nested call shares the caller's
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        partitions = _partitions(cursor)
        for partition in progress(partitions) if progress else partitions:
            transactions_count += _scan_partition(cursor, partition, livemode, by_account, findings)
        _check_partition_guards(cursor, partitions, findings)
        _check_currencies(by_account, livemode, findings)
        accounts_count = _check_cached_balances(cursor, by_account, livemode, findings)
        _check_entry_counts(cursor, livemode, findings)
    run = TrialBalanceRun.objects.create(
        livemode=livemode,
        started_at=started_at,
        finished_at=timezone.now(),
        duration_ms=int((time.monotonic() - started_s) * 1000),
        ok=findings.failure_count == 0,
        entries_count=sum(t.count for t in by_account.values()),
        transactions_count=transactions_count,
        accounts_count=accounts_count,
        failures=findings.failures,
    )
    if not run.ok:
        logger.error(
            "ledger trial balance (%s) failed: %d problem(s), first: %s",
            "live" if livemode else "test",
            findings.failure_count,
            findings.failures[0],
            extra={"trial_balance_run": run.pk, "failure_count": findings.failure_count},
        )
    return run
