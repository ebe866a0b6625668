"""Detection quality and latency of the default fraud ruleset on labelled synthetic traffic.

Creates a throw-away test database (migrations seed the default rules and FX rates), replays
fraud/synthetic.py's traffic through `fraud.services.assess` in process on a synthetic clock,
and prints precision, recall, false-positive rate (any decision but allow counts as flagged),
recall per scenario, and p50/p99 assessment latency with warm caches — once with the PostgreSQL
velocity store and, when Redis answers at REDIS_URL (default redis://127.0.0.1:6379/9), once
with Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/fraud_eval.py [--seed 7] [--shoppers 400] [--no-redis]

The last line is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault("TEST_DB_NAME", "bench_fraud_eval")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402

# Latency is measured after this many assessments (connections, GeoIP and rules warm).
WARMUP_ATTEMPTS = 100
P99_TARGET_MS = 5.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: the machine is shared, so latency needs its load."""
    return [round(value, 2) for value in os.getloadavg()]


def run(*, store: str, seed: int, shoppers: int, redis_url: str) -> dict:
    import redis

    from fraud import rules, services, synthetic, velocity
    from fraud.models import Assessment, ListEntry, ReviewItem

    ReviewItem.objects.all().delete()
    Assessment.objects.all().delete()
    ListEntry.objects.all().delete()
    settings.REDIS_URL = redis_url if store == "redis" else ""
    prefix = f"bench-fraud:{uuid.uuid4().hex}:"
    settings.FRAUD_VELOCITY_PREFIX = prefix
    velocity.reset_redis_state()
    rules.reset_cache()
    services.warm()

    start = timezone.now() - timezone.timedelta(hours=7)
    attempts = synthetic.generate(seed=seed, start=start, shoppers=shoppers)
    # Warm-up: another merchant, days earlier, its own cards and emails, so it cannot change
    # the measured features.
    warmup = [
        replace(
            attempt,
            request=replace(
                attempt.request,
                payment_id=f"{attempt.request.payment_id}_w",
                card_fingerprint=f"{attempt.request.card_fingerprint}_w",
                email=f"w{attempt.request.email}",
            ),
        )
        for attempt in synthetic.generate(
            seed=seed + 1000,
            start=start - timezone.timedelta(days=3),
            shoppers=60,
            merchant_id="mer_warmup",
        )[:WARMUP_ATTEMPTS]
    ]
    synthetic.replay(warmup)
    load_before = load_average()
    replayed = synthetic.replay(attempts)
    load_after = load_average()
    if store == "redis":
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start_index in range(0, len(keys), 1000):
            client.delete(*keys[start_index : start_index + 1000])

    false_positive_rules = Counter(
        name for r in replayed if not r.attempt.fraud and r.decision != "allow" for name in r.rules
    )
    quality = synthetic.quality([(r.attempt, r.decision) for r in replayed])
    wall = [r.wall_ms for r in replayed]
    decision = [r.decision_ms for r in replayed]
    sources = set(Assessment.objects.values_list("velocity_source", flat=True).distinct())
    return {
        "store": store,
        "velocity_sources_seen": sorted(sources),
        "attempts": quality.attempts,
        "fraud": quality.fraud,
        "precision": round(quality.precision, 4),
        "recall": round(quality.recall, 4),
        "false_positive_rate": round(quality.false_positive_rate, 4),
        "tp_fp_fn_tn": [
            quality.true_positives,
            quality.false_positives,
            quality.false_negatives,
            quality.true_negatives,
        ],
        "recall_by_scenario": {k: round(v, 3) for k, v in quality.recall_by_scenario.items()},
        "decisions": quality.decisions,
        "rules_on_false_positives": dict(false_positive_rules.most_common()),
        "assess_call_ms": {
            "p50": round(percentile(wall, 0.50), 3),
            "p99": round(percentile(wall, 0.99), 3),
            "mean": round(statistics.fmean(wall), 3),
        },
        "decision_ms": {
            "p50": round(percentile(decision, 0.50), 3),
            "p99": round(percentile(decision, 0.99), 3),
        },
        "p99_under_5ms": percentile(wall, 0.99) < P99_TARGET_MS,
        "load_average": {"before": load_before, "after": load_after},
    }


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_HEADING = "## fraud_eval"


def results_section(results: list[dict], *, seed: int, shoppers: int, load: str) -> str:
    lines = [
        RESULTS_HEADING,
        "",
        f"- date: {timezone.now():%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores shared with other "
        f"engineers' test runs (load average 1/5/15 min at the end: {load}; per run below)",
        f"- command: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python "
        f"bench/fraud_eval.py --seed {seed} --shoppers {shoppers}`",
        "- the default rules were tuned on seed 7; the hold-out row uses a seed they never saw",
        f"- flagged = any decision but allow; latency after {WARMUP_ATTEMPTS} warm-up assessments",
        "",
        "| store | attempts | fraud | precision | recall | FPR | assess() p50 / p99 ms "
        "| decision p50 / p99 ms | p99 < 5 ms | velocity answered by "
        "| load avg 1/5/15 min before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        call, dec = r["assess_call_ms"], r["decision_ms"]
        load = r["load_average"]
        lines.append(
            f"| {r['store']} | {r['attempts']} | {r['fraud']} | {r['precision']:.3f} "
            f"| {r['recall']:.3f} | {r['false_positive_rate']:.4f} "
            f"| {call['p50']:.2f} / {call['p99']:.2f} | {dec['p50']:.2f} / {dec['p99']:.2f} "
            f"| {'yes' if r['p99_under_5ms'] else 'no'} "
            f"| {', '.join(r['velocity_sources_seen'])} "
            f"| {_loads(load['before'])} → {_loads(load['after'])} |"
        )
    lines.append("")
    for r in (results[0], results[-1]):
        lines += [
            f"- {r['store']}: recall by scenario: "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["recall_by_scenario"].items()),
            f"  decisions {r['decisions']}; rules behind false positives "
            f"{r['rules_on_false_positives']}",
        ]
    lines.append("")
    # A blank line before the next section's heading.
    return "\n".join(lines) + "\n"


def _loads(values: list[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


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
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shoppers", type=int, default=400)
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--holdout-seed", type=int, default=11)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")

    old_config = setup_databases(verbosity=0, interactive=False, keepdb=False)
    try:
        stores = ["postgres"]
        if not args.no_redis and redis_reachable(redis_url):
            stores.append("redis")
        results = [
            run(store=s, seed=args.seed, shoppers=args.shoppers, redis_url=redis_url)
            for s in stores
        ]
        # The default rules were tuned on seed 7: another seed is the honest quality figure.
        holdout = run(
            store="postgres", seed=args.holdout_seed, shoppers=args.shoppers, redis_url=""
        )
        holdout["store"] = f"postgres, hold-out seed {args.holdout_seed}"
        results.append(holdout)
    finally:
        teardown_databases(old_config, verbosity=0)

    for result in results:
        print(f"== velocity store: {result['store']} ({result['attempts']} attempts, "
              f"{result['fraud']} fraudulent)")  # fmt: skip
        print(f"precision {result['precision']:.3f}  recall {result['recall']:.3f}  "
              f"false-positive rate {result['false_positive_rate']:.4f}  "
              f"(tp, fp, fn, tn) = {tuple(result['tp_fp_fn_tn'])}")  # fmt: skip
        print("recall by scenario: " + ", ".join(
            f"{k} {v:.2f}" for k, v in result["recall_by_scenario"].items()))  # fmt: skip
        print(f"decisions: {result['decisions']}")
        print(f"rules that fired on legitimate payments: {result['rules_on_false_positives']}")
        call, dec = result["assess_call_ms"], result["decision_ms"]
        print(f"assess() latency, warm, storage included: p50 {call['p50']:.2f} ms, "
              f"p99 {call['p99']:.2f} ms; decision only: p50 {dec['p50']:.2f} ms, "
              f"p99 {dec['p99']:.2f} ms; p99 < 5 ms: {result['p99_under_5ms']}")  # fmt: skip
        load = result["load_average"]
        print(f"load average (1/5/15 min) before the run {_loads(load['before'])}, "
              f"after {_loads(load['after'])} on {os.cpu_count()} cores")  # fmt: skip
    if not args.no_write:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        write_results(results_section(results, seed=args.seed, shoppers=args.shoppers, load=load))
    print(json.dumps({"fraud_eval": results}))


if __name__ == "__main__":
    main()
