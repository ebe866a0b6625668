"""bench: payments load benchmark — authorize+capture per second against the framework ceiling.

In one run, against one throwaway database, one gunicorn and one PSP simulator at zero added
latency, both on 127.0.0.1:

1. ceiling: `POST /bench/ceiling` (bench/ceiling.py), a bare DRF view that authenticates the API
   key and does one INSERT — the most this machine and framework can do per second;
2. payments: `POST /api/payments` with `capture: true` — the whole hot path: idempotency key,
   vault, fraud assessment, routing, the provider's sale (authorize and capture in one call)
   over HTTP, the payment's transitions and the ledger's hold and capture postings.
   `--two-step` authorizes, then captures in a second request (two provider calls).

For each: a closed-loop concurrency sweep finds the maximum throughput, then an open-loop run at
half that rate (requests sent on a fixed schedule, latency counted from the scheduled time, so a
slow server cannot hide its queueing) gives p50/p95/p99. Prints a JSON line per target and a
summary with the ratio, and writes the `## payments_load` section of bench/RESULTS.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/payments_load.py

The load generator shares the machine with the server, like any single-host benchmark; both
targets pay that cost alike. Targets: payments >= 0.35 x ceiling; p95 < 30 ms at half max.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_DB_NAME = "bench_payments_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0
SWEEP_CONCURRENCY = (1, 2, 4, 8, 16, 32, 64)
SWEEP_STEP_S = 4.0
MEASURE_S = 12.0
WARMUP_REQUESTS = 40
# Stop sweeping once PLATEAU_STEPS doublings of concurrency in a row gain less than 5 % over
# the best so far (two, so that one noisy step on a shared machine does not end the sweep).
PLATEAU_GAIN = 1.05
PLATEAU_STEPS = 2
CONFIRM_ROUNDS = 3
MAX_IN_FLIGHT = 512  # open loop: requests beyond this are counted as failures, not queued
AMOUNT_MINOR = 2500
TARGET_RATIO = 0.35
TARGET_P95_MS = 30.0
RESULTS_SECTION = "## payments_load"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
# Payments cycle through this many distinct cards, as real traffic does: one card for every
# payment would make each fraud assessment read back that card's whole (capped) history.
CARD_POOL = 3000
TOKENIZE_CONCURRENCY = 16


def card_number(index: int) -> str:
    """A distinct Luhn-valid Visa number that is none of the simulator's test cards (so its
    approval rate, set to 1.0 here, decides); test mode takes it because `bench_env` turns on
    VAULT_TEST_MODE_ANY_CARD."""
    prefix = f"491{index:012d}"
    total = 0
    for position, char in enumerate(reversed(prefix)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return prefix + str((10 - total % 10) % 10)


Operation = Callable[[httpx.AsyncClient], Awaitable[bool]]


@dataclass(frozen=True)
class SweepPoint:
    concurrency: int
    ops_per_s: float
    errors: int


@dataclass(frozen=True)
class Measurement:
    target: str
    max_ops_per_s: float
    best_concurrency: int
    sweep: list[SweepPoint]
    confirm_rounds: list[float]  # closed loop at best_concurrency; the maximum is their median
    rate_ops_per_s: float
    completed: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    # CPU time per operation during the confirmation rounds, by process group (ms): where the
    # machine's two cores went, which says what the ratio is made of.
    cpu_ms_per_op: dict[str, float]


# --- CPU accounting -------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone or not ours to read)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _with_children(pid: int) -> list[int]:
    """The process and its children (gunicorn's workers), read from /proc."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if parent == pid:
            pids.append(int(entry))
    return pids


class CpuMeter:
    """CPU seconds used so far by the server (gunicorn and its workers), the database (the
    PostgreSQL backends serving the benchmark's database, when they run on this host), the
    simulator and this load generator."""

    def __init__(self, *, server_pid: int, simulator_pid: int, database_url: str) -> None:
        self._server_pid, self._simulator_pid = server_pid, simulator_pid
        self._database_url = database_url

    def _database_pids(self) -> list[int]:
        with psycopg.connect(self._database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return [row[0] for row in rows]

    def read(self) -> dict[str, dict[int, float]]:
        """CPU seconds so far, by group and process id."""
        own = os.times()
        return {
            "server": {pid: _proc_cpu_s(pid) for pid in _with_children(self._server_pid)},
            "database": {pid: _proc_cpu_s(pid) for pid in self._database_pids()},
            "simulator": {pid: _proc_cpu_s(pid) for pid in _with_children(self._simulator_pid)},
            "load generator": {os.getpid(): own.user + own.system},
        }

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]):
        """CPU seconds by group between two reads, per process: one that started in between
        counts from zero, one that exited in between is left out (never a negative sum)."""
        return {
            group: sum(seconds - before[group].get(pid, 0.0) for pid, seconds in pids.items())
            for group, pids in after.items()
        }


# --- processes ------------------------------------------------------------------------------------


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(server_url: str, name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"BENCH_DB_NAME must be a plain identifier, not {name!r}")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def pick_redis(url: str) -> str:
    """The Redis database this run uses for the cache, rate limits, velocity and CVCs — as in
    production, where more than one web process needs it (docs/settings.md) — emptied first so
    no earlier run's counters leak in; '' (database cache) when it does not answer."""
    if url.lower() == "none":
        return ""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.flushdb()
    except redis.RedisError as exc:
        print(f"Redis at {url} did not answer ({exc}); using the database cache", file=sys.stderr)
        return ""
    return url


def bench_env(*, server_url: str, db_name: str, workdir: str, redis_url: str) -> dict[str, str]:
    """The environment of every process a run starts (manage.py, simulator, gunicorn): the
    load-benchmark settings against the throwaway database, files under `workdir`."""
    env = {
        **os.environ,
        "DATABASE_URL": server_url,
        "BENCH_DB_NAME": db_name,
        "DJANGO_SETTINGS_MODULE": "config.settings.loadbench",
        "DJANGO_ENV": "test",
        "LOCAL_DIR": workdir,
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "REDIS_URL": redis_url,
        # The pool's cards are not published test cards, which test mode refuses by default.
        "VAULT_TEST_MODE_ANY_CARD": "true",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")


SEED_SCRIPT = """
import json
import django
django.setup()
from django.db import connection
from bench.ceiling import CREATE_TABLE_SQL
from fraud.models import Rule
from merchants import services as merchants
from routing.services import setup as routing_setup

merchant = merchants.get_or_create_merchant(name="Load Bench Shop")
secret = merchants.create_api_key(merchant=merchant, kind="secret", livemode=False).plaintext
publishable = merchants.create_api_key(
    merchant=merchant, kind="publishable", livemode=False
).plaintext
routing_setup.seed_providers()
# The payments cycle through a pool of cards: at a few hundred payments a second a card comes
# round again within the minute, and the card-testing rule (3 uses of a card a minute) would
# block it. Its features are still computed and every other rule still runs.
Rule.objects.filter(name="card_testing_burst").update(enabled=False)
with connection.cursor() as cursor:
    cursor.execute(CREATE_TABLE_SQL)
print(json.dumps({"secret": secret, "publishable": publishable}))
"""


def seed(env: dict[str, str]) -> dict[str, str]:
    result = subprocess.run(
        [PYTHON, "-c", SEED_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"seeding failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def prepare(
    env: dict[str, str], *, server_url: str, db_name: str, workdir: str
) -> tuple[subprocess.Popen, dict[str, str]]:
    """A fresh, migrated database, a simulator at zero added latency (its URL put in `env`)
    and a seeded merchant: what both bench tools start from. Returns the simulator process
    (the caller stops it) and the merchant's keys."""
    recreate_database(server_url, db_name)
    run_manage(env, "migrate", "--noinput")
    run_manage(env, "createcachetable")
    simulator, sim_url = start_simulator(env, workdir)
    env["PSP_SIM_URL"] = sim_url
    try:
        return simulator, seed(env)
    except BaseException:
        stop(simulator)
        raise


def _wait_for_line(process: subprocess.Popen, pattern: str) -> re.Match:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(pattern, line)
        if match:
            return match
    process.kill()
    raise SystemExit(f"process did not print {pattern!r} within {START_TIMEOUT_S}s")


def start_simulator(env: dict[str, str], data_dir: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "routing.simulator",
            "--host",
            HOST,
            "--port",
            "0",
            "--data-dir",
            data_dir,
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    match = _wait_for_line(process, r"listening on (http://\S+) providers=(\S+)")
    base_url, providers = match.group(1), match.group(2).split(",")
    with httpx.Client(base_url=base_url, trust_env=False, timeout=REQUEST_TIMEOUT_S) as client:
        for provider in providers:
            # Zero added latency and every card approved: the benchmark measures us, not it.
            client.post(
                f"/_control/{provider}",
                json={"latency_ms": {"mean": 0, "jitter": 0}, "approval_rate": {"*": 1.0}},
            ).raise_for_status()
    return process, base_url


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(workers),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"http://{HOST}:{port}/healthz").status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not answer /healthz in time")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# --- operations -----------------------------------------------------------------------------------


def ceiling_operation(secret: str) -> Operation:
    headers = {"Authorization": f"Bearer {secret}"}

    async def call(client: httpx.AsyncClient) -> bool:
        response = await client.post("/bench/ceiling", json={"amount": 1000}, headers=headers)
        return response.status_code == 201

    return call


async def tokenize_cards(base_url: str, publishable: str, count: int) -> list[str]:
    """`count` card tokens, made through the API with the publishable key."""
    headers = {"Authorization": f"Bearer {publishable}"}
    tokens: list[str] = [""] * count
    next_index = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        for index in next_index:
            card = {**CARD, "number": card_number(index)}
            response = await client.post("/api/tokens", json={"card": card}, headers=headers)
            if response.status_code != 201:
                raise SystemExit(f"tokenization failed: {response.status_code} {response.text}")
            tokens[index] = response.json()["id"]

    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(TOKENIZE_CONCURRENCY)))
    return tokens


def payment_operation(secret: str, tokens: list[str], *, two_step: bool) -> Operation:
    def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}", "Idempotency-Key": uuid.uuid4().hex}

    cards = itertools.cycle(tokens)

    async def call(client: httpx.AsyncClient) -> bool:
        body = {
            "token": next(cards),
            "amount": AMOUNT_MINOR,
            "currency": "eur",
            "capture": not two_step,
        }
        response = await client.post("/api/payments", json=body, headers=headers())
        if response.status_code != 201:
            return False
        payment = response.json()
        if not two_step:
            return payment["status"] == "captured"
        response = await client.post(
            f"/api/payments/{payment['id']}/capture", json={}, headers=headers()
        )
        return response.status_code == 200 and response.json()["status"] == "captured"

    return call


# --- load -----------------------------------------------------------------------------------------


async def closed_loop(
    client: httpx.AsyncClient, operation: Operation, *, concurrency: int, duration_s: float
) -> tuple[int, int, float]:
    """`concurrency` clients, each sending its next request when the last one answered."""
    done = errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal done, errors
        while time.perf_counter() < deadline:
            try:
                ok = await operation(client)
            except httpx.HTTPError:
                ok = False
            done += ok
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, errors, time.perf_counter() - started


async def open_loop(
    client: httpx.AsyncClient, operation: Operation, *, rate_per_s: float, duration_s: float
) -> tuple[list[float], int]:
    """Requests on a fixed schedule; latency from the scheduled send time (no coordinated
    omission: a request that had to wait for a free slot counts its wait)."""
    latencies_ms: list[float] = []
    errors = 0
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: list[asyncio.Task] = []

    async def one(scheduled: float) -> None:
        nonlocal errors
        async with in_flight:
            try:
                ok = await operation(client)
            except httpx.HTTPError:
                ok = False
        if ok:
            latencies_ms.append((time.perf_counter() - scheduled) * 1000)
        else:
            errors += 1

    start = time.perf_counter()
    total = int(rate_per_s * duration_s)
    for i in range(total):
        scheduled = start + i / rate_per_s
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies_ms, errors


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def sweep(client: httpx.AsyncClient, target: str, operation: Operation, *, step_s: float):
    """Closed-loop throughput at 1, 2, 4, … clients until it stops growing."""
    points: list[SweepPoint] = []
    stalled = 0
    for concurrency in SWEEP_CONCURRENCY:
        done, errors, elapsed = await closed_loop(
            client, operation, concurrency=concurrency, duration_s=step_s
        )
        point = SweepPoint(concurrency, round(done / elapsed, 1), errors)
        points.append(point)
        print(
            f"  {target}: concurrency {concurrency:>3} -> {point.ops_per_s:8.1f}/s "
            f"({errors} errors)",
            file=sys.stderr,
        )
        best_before = max((p.ops_per_s for p in points[:-1]), default=0.0)
        stalled = stalled + 1 if point.ops_per_s < best_before * PLATEAU_GAIN else 0
        if stalled >= PLATEAU_STEPS:
            break
    return points


async def measure_all(
    base_url: str,
    operations: dict[str, Operation],
    *,
    sweep_s: float,
    measure_s: float,
    meter: CpuMeter,
) -> list[Measurement]:
    """Sweep each target, confirm each maximum in rounds that alternate between the targets (so
    a burst of outside load hits both alike), then measure latency at half the maximum."""
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    clients = {
        target: httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_S, trust_env=False
        )
        for target in operations
    }
    try:
        sweeps: dict[str, list[SweepPoint]] = {}
        for target, operation in operations.items():
            for _ in range(WARMUP_REQUESTS):
                await operation(clients[target])
            sweeps[target] = await sweep(clients[target], target, operation, step_s=sweep_s)
        best = {t: max(points, key=lambda p: p.ops_per_s) for t, points in sweeps.items()}
        rounds: dict[str, list[float]] = {target: [] for target in operations}
        cpu_s: dict[str, dict[str, float]] = {target: {} for target in operations}
        ops: dict[str, int] = dict.fromkeys(operations, 0)
        for _ in range(CONFIRM_ROUNDS):
            for target, operation in operations.items():
                before = meter.read()
                done, _, elapsed = await closed_loop(
                    clients[target],
                    operation,
                    concurrency=best[target].concurrency,
                    duration_s=sweep_s,
                )
                for group, seconds in meter.used(before, meter.read()).items():
                    cpu_s[target][group] = cpu_s[target].get(group, 0.0) + seconds
                ops[target] += done
                rounds[target].append(round(done / elapsed, 1))
        measurements = []
        for target, operation in operations.items():
            max_ops_per_s = statistics.median(rounds[target])
            rate = max_ops_per_s / 2
            print(f"  {target}: max {max_ops_per_s}/s; latency at {rate:.1f}/s", file=sys.stderr)
            latencies, errors = await open_loop(
                clients[target], operation, rate_per_s=rate, duration_s=measure_s
            )
            measurements.append(
                Measurement(
                    target=target,
                    max_ops_per_s=max_ops_per_s,
                    best_concurrency=best[target].concurrency,
                    sweep=sweeps[target],
                    confirm_rounds=rounds[target],
                    rate_ops_per_s=round(rate, 1),
                    completed=len(latencies),
                    errors=errors,
                    p50_ms=round(percentile(latencies, 0.50), 2),
                    p95_ms=round(percentile(latencies, 0.95), 2),
                    p99_ms=round(percentile(latencies, 0.99), 2),
                    cpu_ms_per_op={
                        group: round(seconds * 1000 / max(ops[target], 1), 2)
                        for group, seconds in cpu_s[target].items()
                    },
                )
            )
        return measurements
    finally:
        for client in clients.values():
            await client.aclose()


SLI_SERIES = ("qr_auth_success_ratio{", "qr_auth_latency_p95_ms{", "qr_auth_attempts_total{")


def scrape_slis(base_url: str) -> list[str]:
    """The authorization SLI lines of /metrics, as Prometheus would scrape them from gunicorn."""
    with httpx.Client(base_url=base_url, trust_env=False, timeout=REQUEST_TIMEOUT_S) as client:
        text = client.get("/metrics").text
    return [line for line in text.splitlines() if line.startswith(SLI_SERIES)]


# --- reporting ------------------------------------------------------------------------------------


def summary_lines(
    ceiling: Measurement, payments: Measurement, *, args: argparse.Namespace, command: str
) -> list[str]:
    ratio = payments.max_ops_per_s / ceiling.max_ops_per_s if ceiling.max_ops_per_s else 0.0
    mode = (
        "two requests (authorize, then capture)" if args.two_step else "one request, capture: true"
    )
    lines = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores "
        f"({platform.machine()}), load generator on the same host; PostgreSQL at 127.0.0.1; "
        f"gunicorn {args.workers} sync workers; simulator at zero added latency",
        f"- command: `{command}`",
        f"- payments: authorize+capture as {mode}; closed-loop sweep {args.sweep_s:g} s per "
        f"concurrency level; maximum = median of {CONFIRM_ROUNDS} rounds at the best "
        "concurrency, alternating between the targets; then open loop at half the maximum "
        f"for {args.measure_s:g} s",
        "",
        "| target | max ops/s (concurrency) | rate at half max | p50 ms | p95 ms | p99 ms "
        "| errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in (ceiling, payments):
        lines.append(
            f"| {m.target} | {m.max_ops_per_s} ({m.best_concurrency}) | {m.rate_ops_per_s}/s | "
            f"{m.p50_ms} | {m.p95_ms} | {m.p99_ms} | {m.errors + sum(p.errors for p in m.sweep)} |"
        )
    met_ratio = "met" if ratio >= TARGET_RATIO else "NOT met"
    met_p95 = "met" if payments.p95_ms < TARGET_P95_MS else "NOT met"
    lines += [
        "",
        f"- payments / ceiling: **{ratio:.2f}** (target >= {TARGET_RATIO}: {met_ratio})",
        f"- payments p95 at half max: **{payments.p95_ms} ms** (target < {TARGET_P95_MS:g} ms: "
        f"{met_p95})",
        "- sweep (ops/s by concurrency): "
        + "; ".join(
            f"{m.target} " + ", ".join(f"{p.concurrency}: {p.ops_per_s}" for p in m.sweep)
            for m in (ceiling, payments)
        ),
        "- confirmation rounds (ops/s): "
        + "; ".join(f"{m.target} {m.confirm_rounds}" for m in (ceiling, payments)),
        "- CPU per operation in the confirmation rounds (ms; server = gunicorn and its workers, "
        "database = the PostgreSQL backends of the run's database): "
        + "; ".join(
            f"{m.target} "
            + ", ".join(f"{group} {ms}" for group, ms in m.cpu_ms_per_op.items())
            + f" (total {sum(m.cpu_ms_per_op.values()):.2f})"
            for m in (ceiling, payments)
        ),
    ]
    return lines


def write_results(lines: list[str]) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = RESULTS_SECTION + "\n\n" + "\n".join(lines) + "\n"
    # Replace only our section: from our heading to the next "## " heading (or the end).
    pattern = re.compile(rf"^{re.escape(RESULTS_SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--sweep-s", type=float, default=SWEEP_STEP_S)
    parser.add_argument("--measure-s", type=float, default=MEASURE_S)
    parser.add_argument("--two-step", action="store_true", help="capture in a second request")
    parser.add_argument("--ceiling-only", action="store_true", help="test the harness")
    parser.add_argument(
        "--keep-db", action="store_true", help="leave the database and LOCAL_DIR for a look"
    )
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--cards", type=int, default=CARD_POOL, help="distinct cards to cycle")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="a Redis database the run may empty, or 'none' for the database cache",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server_url = os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
    db_name = os.environ.get("BENCH_DB_NAME", DEFAULT_DB_NAME)
    workdir = tempfile.mkdtemp(prefix="payments_load_")
    redis_url = pick_redis(args.redis_url)
    env = bench_env(server_url=server_url, db_name=db_name, workdir=workdir, redis_url=redis_url)
    simulator = gunicorn = None
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        print(f"database {db_name}: create and migrate", file=sys.stderr)
        simulator, keys = prepare(env, server_url=server_url, db_name=db_name, workdir=workdir)
        port = free_port()
        gunicorn = start_gunicorn(env, port, args.workers)
        base_url = f"http://{HOST}:{port}"
        print(f"tokenizing {args.cards} cards", file=sys.stderr)
        tokens = asyncio.run(tokenize_cards(base_url, keys["publishable"], args.cards))
        operations = {"ceiling": ceiling_operation(keys["secret"])}
        if not args.ceiling_only:
            operations["payments"] = payment_operation(
                keys["secret"], tokens, two_step=args.two_step
            )
        meter = CpuMeter(
            server_pid=gunicorn.pid,
            simulator_pid=simulator.pid,
            database_url=_database_url(server_url, db_name),
        )
        measurements = asyncio.run(
            measure_all(
                base_url,
                operations,
                sweep_s=args.sweep_s,
                measure_s=args.measure_s,
                meter=meter,
            )
        )
        for measurement in measurements:
            print(json.dumps({"bench": "payments_load", **asdict(measurement)}))
        if args.ceiling_only:
            return 0
        ceiling, payments = measurements
        sli_lines = scrape_slis(base_url)
    finally:
        stop(gunicorn)
        stop(simulator)
        if not args.keep_db:
            drop_database(server_url, db_name)
            shutil.rmtree(workdir, ignore_errors=True)
    command = "DATABASE_URL=… .venv/bin/python bench/payments_load.py" + (
        " --two-step" if args.two_step else ""
    )
    lines = summary_lines(ceiling, payments, args=args, command=command)
    lines.insert(
        1,
        "- cache, rate limits, fraud velocity and CVCs: "
        + ("Redis (a database of its own, emptied first)" if redis_url else "the database cache"),
    )
    lines.append("- SLIs on /metrics after the run (computed from the stored attempts):")
    lines += [f"  - `{line}`" for line in sli_lines]
    lines.append(
        f"- wall time of the run: {time.monotonic() - started:.0f} s; 1-minute load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the machine "
        "makes the figures noisy)"
    )
    print("\n".join(lines))
    ratio = payments.max_ops_per_s / ceiling.max_ops_per_s if ceiling.max_ops_per_s else 0.0
    print(
        json.dumps(
            {
                "bench": "payments_load",
                "ratio": round(ratio, 3),
                "payments_p95_ms_at_half_max": payments.p95_ms,
            }
        )
    )
    if not args.no_results:
        write_results(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
