"""bench: where one auto-captured payment spends its time — SQL statements and transactions by
phase, and a cProfile of the whole request — against the same throwaway database, settings and
simulator as bench/payments_load.py, in one process (Django's test client, no gunicorn).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/profile_payment.py

Options: `--payments N` (measured, after a warm-up), `--top N` (profile rows), `--sql` (print
every statement of the last payment), `--two-step`, `--cards N`, `--redis-url` (default db 14,
emptied first). Not a benchmark with a target: a tool for the hot path.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(ROOT))

from bench.payments_load import (  # noqa: E402
    AMOUNT_MINOR,
    CARD,
    DEFAULT_DB_NAME,
    DEFAULT_SERVER_URL,
    _database_url,
    bench_env,
    card_number,
    drop_database,
    pick_redis,
    prepare,
    stop,
)

# Its own Redis database, emptied first: never the one a concurrent payments_load run uses.
PROFILE_REDIS_URL = "redis://127.0.0.1:6379/14"
# Statement helpers any app calls: the phase is the caller.
GENERIC_HELPERS = ("/core/rows.py",)
APPS = ("payments", "fraud", "routing", "ledger", "merchants", "tokenization", "config")


def _phase() -> str:
    """The innermost frame of our own code that is not a generic helper: 'app/module:function'."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = frame.filename
        if path.endswith(GENERIC_HELPERS):
            continue
        for app in APPS:
            marker = f"/{app}/"
            if marker in path and "/site-packages/" not in path:
                module = path.split(marker, 1)[1].removesuffix(".py").replace("/", ".")
                return f"{app}.{module}:{frame.name}"
    return "other"


def backend_cpu_ms(pid: int) -> float:
    """CPU time a PostgreSQL backend on this host has used so far (the scheduler's own count,
    in nanoseconds, so a single statement's share is measurable); 0 when it is not readable."""
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[0]) / 1e6
    except OSError:
        return 0.0


def xact_commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sql", action="store_true")
    parser.add_argument(
        "--no-cprofile", action="store_true", help="skip the cProfile pass (for py-spy)"
    )
    parser.add_argument("--two-step", action="store_true")
    parser.add_argument("--cards", type=int, default=500, help="distinct cards to cycle")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("PROFILE_REDIS_URL", PROFILE_REDIS_URL),
        help="a Redis database the run may empty (not payments_load's), or 'none'",
    )
    args = parser.parse_args(argv)

    server_url = os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
    db_name = os.environ.get("BENCH_DB_NAME", DEFAULT_DB_NAME + "_profile")
    workdir = tempfile.mkdtemp(prefix="payments_profile_")
    env = bench_env(
        server_url=server_url,
        db_name=db_name,
        workdir=workdir,
        redis_url=pick_redis(args.redis_url),
    )
    simulator = None
    try:
        simulator, keys = prepare(env, server_url=server_url, db_name=db_name, workdir=workdir)
        os.environ.update(env)
        return profile(args, keys, _database_url(server_url, db_name))
    finally:
        stop(simulator)
        drop_database(server_url, db_name)
        shutil.rmtree(workdir, ignore_errors=True)


def profile(args: argparse.Namespace, keys: dict[str, str], db_url: str) -> int:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {keys['secret']}"}
    tokens = []
    for index in range(args.cards):
        response = client.post(
            "/api/tokens",
            {"card": {**CARD, "number": card_number(index)}},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {keys['publishable']}",
        )
        assert response.status_code == 201, response.content
        tokens.append(response.json()["id"])
    cards = itertools.cycle(tokens)

    def pay() -> None:
        body = {
            "token": next(cards),
            "amount": AMOUNT_MINOR,
            "currency": "eur",
            "capture": not args.two_step,
        }
        response = client.post(
            "/api/payments",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
            **auth,
        )
        assert response.status_code == 201, response.content
        if args.two_step:
            payment_id = response.json()["id"]
            response = client.post(
                f"/api/payments/{payment_id}/capture",
                {},
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
                **auth,
            )
            assert response.status_code == 200, response.content
        assert response.json()["status"] == "captured", response.content

    for _ in range(30):
        pay()

    # 1. wall time, serial
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(args.payments):
        pay()
    per_payment_ms = (time.perf_counter() - started) * 1000 / args.payments
    cpu_per_payment_ms = (time.process_time() - cpu_started) * 1000 / args.payments

    # 2. statements and transactions by phase
    counts: Counter[str] = Counter()
    times: defaultdict[str, float] = defaultdict(float)
    server_times: defaultdict[str, float] = defaultdict(float)
    statements: list[tuple[str, str, float, float]] = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def wrapper(execute, sql, params, many, context):
        phase = _phase()
        t0, server0 = time.perf_counter(), backend_cpu_ms(backend)
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = (time.perf_counter() - t0) * 1000
            server = backend_cpu_ms(backend) - server0
            counts[phase] += 1
            times[phase] += elapsed
            server_times[phase] += server
            statements.append((phase, sql, elapsed, server))

    n = 50
    commits_before = xact_commits(db_url)
    backend_before = backend_cpu_ms(backend)
    with connection.execute_wrapper(wrapper):
        for _ in range(n):
            statements.clear()
            pay()
    commits = (xact_commits(db_url) - commits_before) / n
    backend_per_payment = (backend_cpu_ms(backend) - backend_before) / n

    # 3. cProfile
    profiler = cProfile.Profile()
    if not args.no_cprofile:
        profiler.enable()
        for _ in range(args.payments):
            pay()
        profiler.disable()

    print(
        f"serial: {per_payment_ms:.2f} ms per payment ({1000 / per_payment_ms:.1f}/s), "
        f"{cpu_per_payment_ms:.2f} ms of it CPU in this process"
    )
    print(
        f"per payment: {sum(counts.values()) / n:.1f} SQL statements, "
        f"{sum(times.values()) / n:.2f} ms in them; ~{commits:.1f} commits "
        "(pg_stat_database, includes the simulator-free side channels)"
    )
    print(
        f"PostgreSQL backend CPU per payment: {backend_per_payment:.2f} ms "
        f"({sum(server_times.values()) / n:.2f} ms inside statements, the rest in BEGIN/COMMIT)"
    )
    print("\nstatements per payment by phase (count, ms round trip, ms of backend CPU):")
    for phase, count in counts.most_common():
        print(
            f"  {count / n:5.1f}  {times[phase] / n:6.2f} ms  {server_times[phase] / n:6.2f} ms  "
            f"{phase}"
        )
    if args.sql:
        print("\nstatements of the last payment (ms round trip, ms of backend CPU):")
        for phase, sql, elapsed, server in statements:
            print(f"  {elapsed:6.2f}  {server:6.2f}  {phase:50s} {sql[:140]}")
    if args.no_cprofile:
        return 0
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(args.top)
    own_code = re.escape(str(ROOT)) + r"/(?!\.venv)"
    stats.sort_stats("cumulative").print_stats(own_code, args.top * 2)
    stats.sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    print("profiled time by package (own time, ms per payment):")
    for package, seconds in by_package(stats).most_common():
        print(f"  {seconds * 1000 / args.payments:7.2f}  {package}")
    return 0


def by_package(stats: pstats.Stats) -> Counter[str]:
    """Own (not cumulative) profiled time summed by where the code lives: our apps by app,
    third-party packages by top-level name, and Python's own library."""
    totals: Counter[str] = Counter()
    for (filename, _, function), (_, _, tottime, _, _) in stats.stats.items():
        if "site-packages/" in filename:
            parts = filename.split("site-packages/", 1)[1].split("/")
            package = parts[0] if parts[0] != "django" else "django." + parts[1]
        elif filename.startswith(str(ROOT)):
            package = "ours: " + Path(filename).relative_to(ROOT).parts[0]
        elif filename == "~":
            package = "builtins: " + function.split(" of ")[-1].strip("<>'")[:40]
        else:
            package = "stdlib"
        totals[package] += tottime
    return totals


if __name__ == "__main__":
    sys.exit(main())
