"""Benchmark routing: adaptive routing against a fixed priority list when sim-a degrades.

Simulated traffic goes through `routing.services.authorize` (the real service: ranking,
attempt rows, breaker, cascade, detokenization) to a real PSP simulator subprocess over HTTP.
sim-a approves 95 % and sim-b 90 %; half-way through the run sim-a's approval rate drops to
40 %. Each strategy runs on the same traffic and simulator seed, with the cascade on (up to 3
attempts) and off (one attempt), and the script prints approval rate, fees, attempts per
payment, latency and each provider's share of first attempts before and after the drop side by
side, then one JSON line.

Creates its own throw-away database (TEST_DB_NAME, default `bench_routing`) and drops it.

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/routing.py [--payments 1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("TEST_DB_NAME", "bench_routing")
# Simulated traffic reuses a few card numbers; the per-card decline limit is for real cards.
os.environ["ROUTING_MAX_DECLINES_PER_CARD_24H"] = "1000000"
# Its non-test cards (the simulator's approval-rate knobs decide for them) in test mode.
os.environ["VAULT_TEST_MODE_ANY_CARD"] = "true"

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

SIM_START_TIMEOUT_S = 10.0
SIM_SEED = 20261126
ROUTING_SEED = 7
APPROVAL_BEFORE, APPROVAL_AFTER, APPROVAL_SIM_B = 0.95, 0.40, 0.90
# Non-test card numbers: the simulator's approval-rate knobs decide for them.
CARDS = ["4111111111111111", "4012888888881881", "4000056655665556", "4917610000000000"]
STRATEGIES = {
    "fixed_priority": {"strategies": ["priority"], "exploration_rate": 0.0},
    # Approval rate, then the same priority list: the only difference from fixed_priority is
    # adaptation to measured approvals (not cost), so the comparison measures adaptation.
    "adaptive": {"strategies": ["approval_rate", "priority"], "exploration_rate": 0.05},
}
PROVIDERS = ("sim-a", "sim-b")
APPROVAL_WINDOW_S = 3600
APPROVAL_WINDOW_MAX_ATTEMPTS = 50


def start_simulator(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    command = [
        sys.executable, "-m", "routing.simulator", "--host=127.0.0.1", "--port=0",
        "--providers=sim-a,sim-b", f"--data-dir={data_dir}", "--log-level=WARNING",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    ready, _, _ = select.select([process.stdout], [], [], SIM_START_TIMEOUT_S)
    line = process.stdout.readline().decode() if ready else ""
    if not line.startswith("psp-sim listening on "):
        process.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return process, line.split()[3]


def run_scenario(
    *, sim: httpx.Client, merchant_id: str, tokens: list[str], strategy: str, cascade: bool
) -> dict[str, float | int | str]:
    from routing import strategies
    from routing.models import Attempt, BreakerState, Decision, RoutingProfile
    from routing.services import PaymentRoutingRequest, authorize

    Attempt.objects.all().delete()
    Decision.objects.all().delete()
    BreakerState.objects.all().delete()
    RoutingProfile.objects.update_or_create(
        merchant_id=merchant_id,
        defaults={
            **STRATEGIES[strategy],
            "approval_window_s": APPROVAL_WINDOW_S,
            "approval_window_max_attempts": APPROVAL_WINDOW_MAX_ATTEMPTS,
        },
    )
    os.environ["ROUTING_MAX_ATTEMPTS_PER_PAYMENT"] = "3" if cascade else "1"
    strategies.rng.seed(ROUTING_SEED)
    sim.post("/_control/reset").raise_for_status()
    for name, rate in (("sim-a", APPROVAL_BEFORE), ("sim-b", APPROVAL_SIM_B)):
        sim.post(f"/_control/{name}", json={"approval_rate": {"*": rate}, "seed": SIM_SEED})
    half = len(tokens) // 2
    approved = approved_second_half = fees_minor = attempts = 0
    latencies_ms: list[float] = []
    # First-attempt provider per payment, before and after the drop: where routing sent traffic.
    first_choice: dict[str, dict[str, int]] = {"before": {}, "after": {}}
    for index, token_id in enumerate(tokens):
        if index == half:
            sim.post("/_control/sim-a", json={"approval_rate": {"*": APPROVAL_AFTER}})
        started = time.perf_counter()
        outcome = authorize(
            request=PaymentRoutingRequest(
                payment_id=f"pay_bench_{strategy}_{cascade}_{index}",
                merchant_id=merchant_id,
                livemode=False,
                amount_minor=1000 + (index % 50) * 100,
                currency="EUR",
                method="card",
                token_id=token_id,
            )
        )
        latencies_ms.append((time.perf_counter() - started) * 1000)
        attempts += len(outcome.attempts)
        if outcome.attempts:
            half_name = "after" if index >= half else "before"
            first = outcome.attempts[0][1]
            first_choice[half_name][first] = first_choice[half_name].get(first, 0) + 1
        if outcome.outcome.value == "approved":
            approved += 1
            approved_second_half += index >= half
            fees_minor += outcome.fee_minor or 0
    latencies_ms.sort()
    count = len(tokens)
    return {
        "strategy": strategy,
        "cascade": cascade,
        "payments": count,
        "approval_rate": round(approved / count, 4),
        "approval_rate_after_drop": round(approved_second_half / (count - half), 4),
        "total_fees_minor": fees_minor,
        "fee_per_approval_minor": round(fees_minor / approved, 2) if approved else 0,
        "attempts_per_payment": round(attempts / count, 3),
        "latency_p50_ms": round(latencies_ms[count // 2], 2),
        "latency_p95_ms": round(latencies_ms[int(count * 0.95)], 2),
        **{
            f"share_{provider}_{period}": round(
                first_choice[period].get(provider, 0)
                / (half if period == "before" else count - half),
                3,
            )
            for period in ("before", "after")
            for provider in PROVIDERS
        },
    }


def make_tokens(merchant_id: str, count: int) -> list[str]:
    """One token per payment (a CVC is consumed by its first authorization)."""
    from tokenization import services as token_services

    return [
        token_services.create_token(
            merchant_id=merchant_id, livemode=False, number=CARDS[i % len(CARDS)],
            exp_month=12, exp_year=2034, cvc="123",
        ).id
        for i in range(count)
    ]  # fmt: skip


def run(*, payments: int, data_dir: Path) -> list[dict[str, float | int | str]]:
    from merchants import services as merchant_services
    from routing.models import Provider
    from routing.providers import invalidate
    from routing.services import seed_providers

    process, base_url = start_simulator(data_dir)
    os.environ["PSP_SIM_URL"] = base_url
    try:
        seed_providers()
        Provider.objects.exclude(kind="simulator").update(enabled=False)
        invalidate()
        merchant = merchant_services.get_or_create_merchant(name="Bench Routing Shop")
        results = []
        with httpx.Client(base_url=base_url, trust_env=False, timeout=10) as sim:
            for cascade in (False, True):
                for strategy in STRATEGIES:
                    tokens = make_tokens(merchant.pk, payments)
                    results.append(
                        run_scenario(
                            sim=sim,
                            merchant_id=merchant.pk,
                            tokens=tokens,
                            strategy=strategy,
                            cascade=cascade,
                        )
                    )
        return results
    finally:
        process.terminate()
        process.wait(timeout=5)


def print_table(results: list[dict[str, float | int | str]]) -> None:
    columns = ["approval_rate", "approval_rate_after_drop", "total_fees_minor",
               "fee_per_approval_minor", "attempts_per_payment", "latency_p50_ms",
               "latency_p95_ms"]  # fmt: skip
    columns += [f"share_{p}_{period}" for period in ("before", "after") for p in PROVIDERS]
    for cascade in (False, True):
        rows = [r for r in results if r["cascade"] is cascade]
        print(f"\ncascade {'on (max 3 attempts)' if cascade else 'off (1 attempt)'}")
        print(f"| measure | {' | '.join(str(r['strategy']) for r in rows)} |")
        print(f"|---|{'---|' * len(rows)}")
        for column in columns:
            print(f"| {column} | {' | '.join(str(r[column]) for r in rows)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000, help="per strategy and mode")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    data_dir = ROOT / ".local" / "bench-routing-sim"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = run(payments=args.payments, data_dir=data_dir)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(
        f"routing: {args.payments} payments per run; sim-a approval {APPROVAL_BEFORE} → "
        f"{APPROVAL_AFTER} half-way, sim-b {APPROVAL_SIM_B}; fees sim-a 2.90 %+30, sim-b 2.50 %+25"
    )
    print_table(results)
    print(json.dumps({"bench": "routing", "results": results}))


if __name__ == "__main__":
    main()
