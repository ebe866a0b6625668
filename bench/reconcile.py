"""Reconciliation benchmark: a day of N settlement lines against N captured payments.

Run (from the project root; see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/reconcile.py [--lines 1000000] [--no-write]

It (re)creates the database BENCH_DB_NAME (default bench_reconcile), migrates the ledger, then
(setup, not measured) writes N captured payments straight into the ledger tables with
INSERT … SELECT generate_series, their attempt ids into ledger_recon_references, and a bank
statement with the provider's payouts; and builds the provider's report: one capture line per
payment with a known sprinkling of every break type. Measured: the whole
`ledger.reconciliation.services.reconcile_report` (COPY into the staging table, the set-based
classification, breaks, the settlement posting, the run's summary) and, in the same run, the
bare COPY of the same lines and one join against the references — the floor. It asserts that
exactly the injected breaks were found, prints JSON and writes "## reconcile" in
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The test settings (config.settings.bench adds django-hordak, which this benchmark does not
# need); the database is BENCH_DB_NAME, set before Django starts.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
DB_NAME = os.environ.get("BENCH_DB_NAME", "bench_reconcile")

RESULTS_PATH = ROOT / "bench" / "RESULTS.md"
RESULTS_HEADING = "## reconcile"
PROVIDER = "benchsim"
TARGET_S = 60
# How many of each break are injected (a prime stride spreads them over the day).
INJECTED = {
    "amount_mismatch": 97,
    "missing_in_ledger": 89,
    "missing_in_report": 83,
    "duplicate": 79,
    "payout_not_received": 3,
    "payout_amount_mismatch": 2,
}
PAYOUTS_MATCHED = 5
STRIDE = 7919


def _recreate_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        dbname="postgres",
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def _setup() -> None:
    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = DB_NAME
    _recreate_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", "ledger", verbosity=0)


def amount_of(i: int) -> int:
    return 1_000 + (i * STRIDE) % 100_000


def _picked(n: int, count: int, offset: int) -> list[int]:
    """`count` distinct payment numbers in 1..n, spread out, disjoint per offset."""
    step = n // (sum(INJECTED.values()) + 10)
    return [1 + ((offset + k * len(INJECTED)) * step) % n for k in range(count)]


def _load_ledger(n: int, capture_day: dt.date) -> None:
    """N captures (Dr psp_receivable / Cr merchant_payable) dated `capture_day`, straight into
    the ledger tables (triggers off for the load: session_replication_role = replica), the
    balance rows set to their sums, and the attempt ids of every payment."""
    from django.db import connection, transaction

    from ledger import services

    receivable = services.ensure_account(
        owner=f"provider:{PROVIDER}", kind="psp_receivable", currency="EUR", livemode=False
    )
    payable = services.ensure_account(
        owner="merchant:bench", kind="merchant_payable", currency="EUR", livemode=False
    )
    ts = dt.datetime.combine(capture_day, dt.time(12), tzinfo=dt.UTC)
    amount = f"(1000 + (g::bigint * {STRIDE}) %% 100000)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT ledger_ensure_partitions(%s, 3)", [ts - dt.timedelta(days=40)])
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "INSERT INTO ledger_transactions (id, payment_id, kind, reference, description, ts) "
            "SELECT 1000000000 + g, 'pay_' || g, 'capture', 'pay_' || g || ':capture', "
            "'bench capture', %s FROM generate_series(1, %s) g",
            [ts, n],
        )
        # Only an account's last entry must carry its running totals (the trial balance reads
        # that one): every loaded entry carries the final total.
        total = sum(amount_of(i) for i in range(1, n + 1))
        cursor.execute(
            "INSERT INTO ledger_entries (transaction_id, payment_id, account_id, debit, credit, "
            "currency, ts, running_debit, running_credit) "
            f"SELECT 1000000000 + g, 'pay_' || g, %s, {amount}, 0, 'EUR', %s, %s, 0 "
            "FROM generate_series(1, %s) g UNION ALL "
            f"SELECT 1000000000 + g, 'pay_' || g, %s, 0, {amount}, 'EUR', %s, 0, %s "
            "FROM generate_series(1, %s) g",
            [receivable, ts, total, n, payable, ts, total, n],
        )
        cursor.execute(
            "UPDATE ledger_account_balances SET debit_total = %s, entry_count = %s, last_ts = %s "
            "WHERE account_id = %s",
            [total, n, ts, receivable],
        )
        cursor.execute(
            "UPDATE ledger_account_balances SET credit_total = %s, entry_count = %s, last_ts = %s "
            "WHERE account_id = %s",
            [total, n, ts, payable],
        )
        cursor.execute(
            "INSERT INTO ledger_recon_references "
            "(provider, livemode, reference, provider_reference, payment_id) "
            "SELECT %s, false, 'att_' || g, 'psp_' || g, 'pay_' || g FROM generate_series(1, %s) g",
            [PROVIDER, n],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ledger_transactions")
        cursor.execute("ANALYZE ledger_entries")
        cursor.execute("VACUUM ANALYZE ledger_recon_references")


def _payout_credits(report_day: dt.date, payouts: list[tuple[str, int]]) -> None:
    """The bank statement: the matched payouts as sent, the mismatched ones 1.00 short."""
    from ledger.statements.models import BankStatement, StatementLine

    statement = BankStatement.objects.create(
        livemode=False, format="synthetic", account_iban="NL00BENCH0000000000",
        currency="EUR", raw=b"bench", sha256="bench", imported_by="bench",
    )  # fmt: skip
    mismatched = INJECTED["payout_amount_mismatch"]
    lines = [
        StatementLine(
            statement=statement,
            livemode=False,
            account_iban=statement.account_iban,
            entry_key=f"bench:{payout_id}",
            credit=True,
            amount_minor=amount - (100 if k < mismatched else 0),
            currency="EUR",
            booking_date=report_day,
            value_date=report_day,
            remittance=f"PAYOUT {payout_id}",
            state="manual_queue",
        )
        for k, (payout_id, amount) in enumerate(payouts)
    ]
    StatementLine.objects.bulk_create(lines)


def _report(n: int) -> tuple[list, dict[str, set[str]], list[tuple[str, int]]]:
    """The provider's lines, the injected breaks (type → references) and the bank payouts."""
    from ledger.reconciliation.services import ReportLine

    offsets = {name: k for k, name in enumerate(INJECTED)}
    mismatch = set(_picked(n, INJECTED["amount_mismatch"], offsets["amount_mismatch"]))
    unreported = set(_picked(n, INJECTED["missing_in_report"], offsets["missing_in_report"]))
    doubled = set(_picked(n, INJECTED["duplicate"], offsets["duplicate"]))
    expected: dict[str, set[str]] = {name: set() for name in INJECTED}
    lines = []
    for i in range(1, n + 1):
        if i in unreported:
            expected["missing_in_report"].add(f"att_{i}")
            continue
        gross = amount_of(i) + (1 if i in mismatch else 0)
        line = ReportLine("capture", f"att_{i}", f"psp_{i}", gross, 25, gross - 25, "EUR")
        lines.append(line)
        if i in mismatch:
            expected["amount_mismatch"].add(f"att_{i}")
        if i in doubled:
            lines.append(line)
            expected["duplicate"].add(f"att_{i}")
    for k in range(INJECTED["missing_in_ledger"]):
        lines.append(ReportLine("capture", f"att_unknown_{k}", f"psp_unknown_{k}", 500, 5, 495,
                                "EUR"))  # fmt: skip
        expected["missing_in_ledger"].add(f"att_unknown_{k}")
    payouts = []
    total_payouts = (
        PAYOUTS_MATCHED + INJECTED["payout_not_received"] + INJECTED["payout_amount_mismatch"]
    )
    for k in range(total_payouts):
        payout_id, amount = f"po_bench_{k}", 1_000_000 + k * 1_013
        lines.append(ReportLine("payout", "", "", -amount, 0, -amount, "EUR", payout_id))
        if k < INJECTED["payout_amount_mismatch"]:
            expected["payout_amount_mismatch"].add(payout_id)
            payouts.append((payout_id, amount))
        elif k < INJECTED["payout_amount_mismatch"] + INJECTED["payout_not_received"]:
            expected["payout_not_received"].add(payout_id)
        else:
            payouts.append((payout_id, amount))
    return lines, expected, payouts


def _found() -> dict[str, set[str]]:
    """Break type → the references (payout ids for payouts) of the breaks the run opened."""
    from ledger.reconciliation.models import Break

    found: dict[str, set[str]] = {}
    for brk in Break.objects.select_related("line"):
        payout = brk.line is not None and brk.line.type == "payout"
        found.setdefault(brk.type, set()).add(
            brk.line.payout_reference if payout else brk.reference
        )
    return found


def _bare_copy_and_join(lines: list) -> float:
    """The floor: COPY the same lines into a temporary table and join them to the references."""
    from django.db import connection, transaction

    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bare_stage (line_no integer, type text, reference text, "
            "provider_reference text, gross bigint) ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            "COPY bare_stage (line_no, type, reference, provider_reference, gross) FROM STDIN"
        ) as copy:
            for line_no, line in enumerate(lines, start=1):
                copy.write_row(
                    (line_no, line.type, line.reference, line.provider_reference, line.gross_minor)
                )
        cursor.execute(
            "SELECT count(*) FROM bare_stage s JOIN ledger_recon_references r "
            "ON r.provider = %s AND NOT r.livemode AND r.reference = s.reference",
            [PROVIDER],
        )
        cursor.fetchone()
    return time.perf_counter() - began


def write_results(section: str) -> None:
    """Replace only our section of bench/RESULTS.md (append it when missing)."""
    text = RESULTS_PATH.read_text() if RESULTS_PATH.exists() else "# Benchmark results\n"
    start = text.find(RESULTS_HEADING + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(RESULTS_HEADING))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    RESULTS_PATH.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="captured payments")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    n = args.lines

    _setup()
    from ledger import services as ledger
    from ledger.reconciliation import services as recon

    report_day = dt.datetime.now(dt.UTC).date()
    capture_day = report_day - dt.timedelta(days=1)  # the provider settles in one day
    began = time.perf_counter()
    _load_ledger(n, capture_day)
    lines, expected, payouts = _report(n)
    _payout_credits(report_day, payouts)
    setup_s = time.perf_counter() - began

    bare_s = _bare_copy_and_join(lines)
    began = time.perf_counter()
    result = recon.reconcile_report(
        provider=PROVIDER, livemode=False, report_date=report_day, raw=b"bench %d" % n,
        filename="bench.csv", lines=lines, delay_days=1,
    )  # fmt: skip
    reconcile_s = time.perf_counter() - began
    bare_again_s = _bare_copy_and_join(lines)

    found = _found()
    assert found == {k: v for k, v in expected.items() if v}, {
        k: (len(found.get(k, ())), len(v)) for k, v in expected.items()
    }
    trial = ledger.run_trial_balance(livemode=False)
    trial_ok = trial.ok
    if not trial_ok:
        print(json.dumps({"trial_balance_failures": trial.failures[:5]}, default=str))
    summary = {
        "bench": "reconcile",
        "payments": n,
        "lines": len(lines),
        "matched": result.matched,
        "breaks": result.breaks,
        "injected": {k: len(v) for k, v in expected.items()},
        "all_injected_found_and_nothing_else": True,
        "reconcile_s": round(reconcile_s, 2),
        "bare_copy_and_join_s": round(min(bare_s, bare_again_s), 2),
        "target_s": TARGET_S,
        "setup_s": round(setup_s, 1),
        "trial_balance_ok": trial_ok,
    }
    print(json.dumps(summary))
    if not args.no_write:
        write_results(_section(summary))


def _section(s: dict) -> str:
    breaks = ", ".join(f"{k} {v}" for k, v in sorted(s["breaks"].items()))
    return (
        f"{RESULTS_HEADING}\n\n"
        f"{s['payments']:,} captured payments in the ledger, {s['lines']:,} settlement lines "
        f"(one provider, one day), run on {dt.date.today()}:\n\n"
        "| measure | seconds |\n|---|---|\n"
        f"| reconcile_report (COPY, classify, breaks, settlement posting, summary) | "
        f"{s['reconcile_s']} |\n"
        f"| bare COPY of the same lines + one join (the floor) | {s['bare_copy_and_join_s']} |\n"
        f"| target | {s['target_s']} |\n\n"
        f"Matched {s['matched']:,}; breaks found: {breaks} — exactly the injected ones "
        f"(asserted), nothing else. Trial balance after the settlement posting: "
        f"{'ok' if s['trial_balance_ok'] else 'FAILED'}.\n"
    )


if __name__ == "__main__":
    main()
