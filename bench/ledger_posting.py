"""Ledger posting benchmark: our posting service vs django-hordak vs a raw-SQL ceiling.

Run (from the project root; see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/ledger_posting.py

It (re)creates the database BENCH_DB_NAME (default bench_ledger) on that server, migrates the
ledger and django-hordak into it, then measures in one run against the same PostgreSQL:
  (a) ours:    ledger.services.post_transaction, one database transaction per posting;
  (b) hordak:  Account.transfer_to (one Transaction + two Legs, its own deferred triggers);
  (c) raw:     one INSERT … RETURNING + INSERT of the same rows into our tables, triggers on;
and the latency of reading one account's balance when it holds BENCH_BALANCE_ENTRIES entries
(loaded with INSERT … SELECT generate_series), ours against hordak's Account.get_balance().
Results print as JSON lines and go to bench/RESULTS.md under "## ledger_posting".
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")

POSTINGS = int(os.environ.get("BENCH_POSTINGS", "3000"))
WARMUP_POSTINGS = 200
BALANCE_ENTRIES = int(os.environ.get("BENCH_BALANCE_ENTRIES", "1000000"))
BALANCE_READS = 300
ROUNDS = 5
CLIENTS = 4  # concurrent client processes in the "durable_4_clients" mode
CLIENT_JOIN_TIMEOUT_S = 300
MERCHANTS = 20
PROVIDERS = 2
SEED = 42


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

    settings.DATABASES
    _recreate_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", "ledger", verbosity=0)
    call_command("migrate", "hordak", verbosity=0)


def _workload() -> list[tuple[int, int, int]]:
    """(provider index, merchant index, amount_minor) per posting, the same for all three."""
    rng = random.Random(SEED)
    return [
        (i % PROVIDERS, rng.randrange(MERCHANTS), rng.randint(100, 100_000))
        for i in range(POSTINGS + WARMUP_POSTINGS)
    ]


def _interleaved_seconds(posters: dict, work) -> dict[str, float]:
    """Seconds each implementation took for the same postings, in interleaved rounds.

    Round-robin slices share out any background load on the machine evenly among the three.
    """
    for post in posters.values():
        for item in work[:WARMUP_POSTINGS]:
            post(*item)
    measured = work[WARMUP_POSTINGS:]
    slice_size = max(1, len(measured) // ROUNDS)
    elapsed = dict.fromkeys(posters, 0.0)
    for start in range(0, len(measured), slice_size):
        for name, post in posters.items():
            began = time.perf_counter()
            for item in measured[start : start + slice_size]:
                post(*item)
            elapsed[name] += time.perf_counter() - began
    return elapsed


def bench_ours(mode: str):
    from ledger import services
    from ledger.services import Line

    receivable = [
        services.ensure_account(
            owner=f"provider:p{p}", kind="psp_receivable", currency="EUR", livemode=False
        )
        for p in range(PROVIDERS)
    ]
    payable = [
        services.ensure_account(
            owner=f"merchant:m{m}", kind="merchant_payable", currency="EUR", livemode=False
        )
        for m in range(MERCHANTS)
    ]
    counter = iter(range(10**9))

    def post(p: int, m: int, amount: int) -> None:
        n = next(counter)
        services.post_transaction(
            kind="capture",
            reference=f"ours:{mode}:{os.getpid()}:{n}",
            payment_id=f"pay_ours_{mode}_{os.getpid()}_{n}",
            lines=[
                Line(account_id=receivable[p], debit_minor=amount),
                Line(account_id=payable[m], credit_minor=amount),
            ],
            livemode=False,
        )

    return post


def bench_raw(mode: str):
    from django.db import connection

    from ledger import services

    receivable = [
        services.ensure_account(
            owner=f"provider:raw{p}", kind="psp_receivable", currency="EUR", livemode=False
        )
        for p in range(PROVIDERS)
    ]
    payable = [
        services.ensure_account(
            owner=f"merchant:raw{m}", kind="merchant_payable", currency="EUR", livemode=False
        )
        for m in range(MERCHANTS)
    ]
    sql = """
        WITH t AS (
            INSERT INTO ledger_transactions (payment_id, kind, reference, ts)
            VALUES (%s, 'capture', %s, clock_timestamp()) RETURNING id, payment_id, ts
        )
        INSERT INTO ledger_entries (transaction_id, payment_id, account_id, debit, credit,
                                    currency, ts, running_debit, running_credit)
        SELECT t.id, t.payment_id, v.account_id, v.debit, v.credit, 'EUR', t.ts, 0, 0
        FROM t, (VALUES (%s::bigint, %s::bigint, 0::bigint), (%s, 0, %s))
             v (account_id, debit, credit)
    """
    counter = iter(range(10**9))

    def post(p: int, m: int, amount: int) -> None:
        n = next(counter)
        # One statement in autocommit: its own transaction, deferred triggers at its commit.
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                [
                    f"pay_raw_{mode}_{os.getpid()}_{n}",
                    f"raw:{mode}:{os.getpid()}:{n}",
                    receivable[p],
                    amount,
                    payable[m],
                    amount,
                ],
            )

    return post


def bench_hordak(mode: str):
    from djmoney.money import Money
    from hordak.models import Account

    receivable = [
        Account.objects.create(name=f"receivable p{p}", type="AS", currencies=["EUR"])
        for p in range(PROVIDERS)
    ]
    payable = [
        Account.objects.create(name=f"payable m{m}", type="LI", currencies=["EUR"])
        for m in range(MERCHANTS)
    ]

    def post(p: int, m: int, amount: int) -> None:
        # Cr payable, Dr receivable: the same capture, in hordak's Decimal major units.
        payable[m].transfer_to(receivable[p], Money(Decimal(amount) / 100, "EUR"))

    return post


def _client(post, items) -> None:
    from django.db import connection

    for item in items:
        post(*item)
    connection.close()


def _concurrent_seconds(posters: dict, work) -> dict[str, float]:
    """Wall-clock seconds for CLIENTS processes to post the same postings between them."""
    import multiprocessing

    from django.db import connections

    measured = work[WARMUP_POSTINGS:]
    context = multiprocessing.get_context("fork")
    elapsed = {}
    for name, post in posters.items():
        connections.close_all()  # each client opens its own connection
        clients = [
            context.Process(target=_client, args=(post, measured[i::CLIENTS]))
            for i in range(CLIENTS)
        ]
        began = time.perf_counter()
        for process in clients:
            process.start()
        for process in clients:
            process.join(CLIENT_JOIN_TIMEOUT_S)
        elapsed[name] = time.perf_counter() - began
        if any(process.exitcode != 0 for process in clients):
            raise SystemExit(f"a {name} client failed")
    return elapsed


def _latencies_ms(read, count: int) -> dict[str, float]:
    for _ in range(10):
        read()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        read()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
    }


def load_ours(entries: int) -> tuple[int, datetime]:
    """`entries` transactions of Cr hot / Dr counter, running totals and cached rows to match."""
    from django.db import connection

    from ledger import services

    hot = services.ensure_account(
        owner="merchant:hot", kind="merchant_payable", currency="EUR", livemode=False
    )
    counter = services.ensure_account(
        owner="provider:hot", kind="psp_receivable", currency="EUR", livemode=False
    )
    with connection.cursor() as cursor:
        # Bulk load only: triggers (and FK checks) off for this session; rows are balanced.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SELECT nextval('ledger_transactions_id_seq')")
        first_id = cursor.fetchone()[0]
        cursor.execute("SELECT setval('ledger_transactions_id_seq', %s)", [first_id + entries])
        cursor.execute("SELECT now() - interval '1 hour'")
        base = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO ledger_transactions (id, payment_id, kind, reference, ts) "
            "SELECT %s + g, 'pay_bulk_' || g, 'capture', 'bulk:' || g, "
            "%s + g * interval '1 millisecond' FROM generate_series(1, %s) g",
            [first_id, base, entries],
        )
        cursor.execute(
            "INSERT INTO ledger_entries (transaction_id, payment_id, account_id, debit, credit, "
            "currency, ts, running_debit, running_credit) "
            "SELECT %s + g, 'pay_bulk_' || g, a.account_id, a.side * 100, (1 - a.side) * 100, "
            "'EUR', %s + g * interval '1 millisecond', a.side * g * 100, (1 - a.side) * g * 100 "
            "FROM generate_series(1, %s) g, (VALUES (%s::bigint, 0), (%s::bigint, 1)) a "
            "(account_id, side) ORDER BY g, a.side",
            [first_id, base, entries, hot, counter],
        )
        cursor.execute(
            "UPDATE ledger_account_balances SET debit_total = %s * side, "
            "credit_total = %s * (1 - side), entry_count = %s, last_ts = %s "
            "FROM (VALUES (%s::bigint, 0), (%s::bigint, 1)) a (id, side) WHERE account_id = a.id",
            [entries * 100, entries * 100, entries, datetime.now(UTC), hot, counter],
        )
        cursor.execute("SET session_replication_role = origin")
        cursor.execute("ANALYZE ledger_entries")
        cursor.execute("ANALYZE ledger_account_balances")
    return hot, base


def load_hordak(entries: int):
    from django.db import connection
    from hordak.models import Account

    hot = Account.objects.create(name="hot payable", type="LI", currencies=["EUR"])
    counter = Account.objects.create(name="hot receivable", type="AS", currencies=["EUR"])
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SELECT pg_get_serial_sequence('hordak_transaction', 'id')")
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [sequence])
        first_id = cursor.fetchone()[0]
        cursor.execute("SELECT setval(%s, %s)", [sequence, first_id + entries])
        cursor.execute(
            "INSERT INTO hordak_transaction (id, uuid, timestamp, date, description) "
            "SELECT %s + g, gen_random_uuid(), now(), current_date, '' "
            "FROM generate_series(1, %s) g",
            [first_id, entries],
        )
        cursor.execute(
            "INSERT INTO hordak_leg (uuid, description, account_id, transaction_id, credit, "
            "debit, currency) SELECT gen_random_uuid(), '', a.account_id, %s + g, "
            "CASE WHEN a.side = 0 THEN 1.00 END, CASE WHEN a.side = 1 THEN 1.00 END, 'EUR' "
            "FROM generate_series(1, %s) g, (VALUES (%s::bigint, 0), (%s::bigint, 1)) a "
            "(account_id, side)",
            [first_id, entries, hot.pk, counter.pk],
        )
        cursor.execute("SET session_replication_role = origin")
        cursor.execute("ANALYZE hordak_leg")
        cursor.execute("ANALYZE hordak_transaction")
    return hot


def _write_results(lines: list[str]) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = "## ledger_posting\n\n" + "\n".join(lines) + "\n"
    start = text.find("## ledger_posting")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("" if end == -1 else text[end:])
    path.write_text(text)


def main() -> None:
    _setup()
    from django.db import connection

    work = _workload()
    results: dict[str, dict[str, dict]] = {}
    ratios: dict[str, dict[str, float]] = {}
    for mode in ("durable", "synchronous_commit_off", f"durable_{CLIENTS}_clients"):
        with connection.cursor() as cursor:  # the same session setting for all three
            cursor.execute(
                "SET synchronous_commit = %s"
                % ("off" if mode == "synchronous_commit_off" else "on")
            )
        posters = {
            "ours": bench_ours(mode),
            "hordak": bench_hordak(mode),
            "raw_sql": bench_raw(mode),
        }
        if mode.endswith("_clients"):
            elapsed = _concurrent_seconds(posters, work)
        else:
            elapsed = _interleaved_seconds(posters, work)
        results[mode] = {
            name: {
                "transactions_per_s": round(POSTINGS / seconds, 1),
                "entries_per_s": round(2 * POSTINGS / seconds, 1),
            }
            for name, seconds in elapsed.items()
        }
        tps = {name: r["transactions_per_s"] for name, r in results[mode].items()}
        ratios[mode] = {
            "ours_over_hordak": round(tps["ours"] / tps["hordak"], 2),
            "ours_over_raw": round(tps["ours"] / tps["raw_sql"], 2),
        }
        for name, figures in results[mode].items():
            print(json.dumps({"bench": "ledger_posting", "mode": mode, "impl": name, **figures}))
        print(json.dumps({"bench": "ledger_posting", "mode": mode, **ratios[mode]}), flush=True)
    from hordak.models import Account as HordakAccount

    from ledger import selectors

    load_started = time.perf_counter()
    hot, base = load_ours(BALANCE_ENTRIES)
    hot_hordak = load_hordak(BALANCE_ENTRIES)
    load_s = round(time.perf_counter() - load_started, 1)
    midpoint = base + (datetime.now(UTC) - base) / 2
    reads = {
        "ours_balance": _latencies_ms(
            lambda: selectors.account_balance(account_id=hot), BALANCE_READS
        ),
        "ours_balance_as_of": _latencies_ms(
            lambda: selectors.account_balance(account_id=hot, as_of=midpoint), BALANCE_READS
        ),
        "hordak_get_balance": _latencies_ms(
            lambda: HordakAccount.objects.get(pk=hot_hordak.pk).get_balance(), 20
        ),
    }
    assert selectors.account_balance(account_id=hot).posted_minor == 100 * BALANCE_ENTRIES
    for name, figures in reads.items():
        print(
            json.dumps({"bench": "ledger_balance_read", "impl": name,
                        "entries": BALANCE_ENTRIES, **figures}),
            flush=True,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0].split(" on ")[0]

    met = {
        "posting >= 2x hordak": ratios["durable"]["ours_over_hordak"] >= 2,
        "posting >= 0.5x raw SQL": ratios["durable"]["ours_over_raw"] >= 0.5,
        "balance read < 5 ms at 1M entries": reads["ours_balance"]["p95_ms"] < 5,
    }
    lines = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {pg_version}; {os.cpu_count()} cores",
        "- command: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres "
        ".venv/bin/python bench/ledger_posting.py`",
        f"- {POSTINGS} capture postings (2 entries each, {PROVIDERS} provider and {MERCHANTS} "
        "merchant accounts) per implementation and mode, one database transaction each, after "
        f"{WARMUP_POSTINGS} warm-up; single-client modes in {ROUNDS} interleaved rounds; "
        f"the {CLIENTS}-client mode splits the same postings among {CLIENTS} processes",
        "",
        "| mode | implementation | transactions/s | entries/s |",
        "|---|---|---|---|",
        *(
            f"| {mode} | {name} | {r['transactions_per_s']} | {r['entries_per_s']} |"
            for mode, by_impl in results.items()
            for name, r in by_impl.items()
        ),
        "",
        *(
            f"- {mode}: ours / hordak **{r['ours_over_hordak']}x**, "
            f"ours / raw SQL **{r['ours_over_raw']}x**"
            for mode, r in ratios.items()
        ),
        f"- balance read with {BALANCE_ENTRIES:,} entries on the account "
        f"(bulk load {load_s} s, not measured):",
        *(
            f"  - {name}: median {f['median_ms']} ms, p95 {f['p95_ms']} ms"
            for name, f in reads.items()
        ),
        "- targets (durable mode): "
        + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in met.items()),
    ]
    _write_results(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
