"""Measure the two installed CEL implementations on our representative fraud rules.

Prints compile time per rule and evaluate time per rule (median over many runs) for
`common-expression-language` (import `cel`, Rust-backed) and `cel-python` (import `celpy`,
pure Python), so the choice recorded in docs/fraud.md is made by measurement.

    .venv/bin/python bench/cel_choice.py
"""

from __future__ import annotations

import json
import statistics
import time

import cel
import celpy

COMPILE_RUNS = 50
EVAL_RUNS = 2000

RULES = {
    "card_testing_burst": (
        "velocity.card_1m >= 3 || (velocity.ip_cards_24h >= 5 && amount_ref < 500)"
    ),
    "high_amount_mismatch": "amount_ref >= 50000 && country_mismatch",
    "blocklisted": "blocklisted.card || blocklisted.email || blocklisted.ip || blocklisted.bin",
    "simulator_fraud_card": 'card.bin == "410000" && card.last4 == "0019"',
    "list_membership": 'ip.country in ["RU", "NG", "KP"] && amount_ref > 10000',
    "string_functions": 'email.endsWith("@mailinator.com") || email.contains("+test")',
}

CONTEXT = {
    "amount": 1250,
    "amount_ref": 1250,
    "currency": "EUR",
    "email": "shopper@example.com",
    "card": {
        "fingerprint": "fp_1",
        "bin": "424242",
        "brand": "visa",
        "country": "DE",
        "last4": "4242",
    },
    "ip": {"address": "85.214.132.117", "country": "DE"},
    "velocity": {"card_1m": 1, "card_1h": 1, "ip_cards_24h": 1, "email_1h": 1},
    "blocklisted": {"card": False, "email": False, "ip": False, "bin": False},
    "country_mismatch": False,
}


def _median_us(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def measure_rust() -> dict[str, dict[str, float]]:
    context = cel.Context()
    context.update(CONTEXT)
    out = {}
    for name, expression in RULES.items():
        compile_us = _median_us(lambda e=expression: cel.compile(e), COMPILE_RUNS)
        program = cel.compile(expression)
        # A fresh Context per assessment is what the hot path does; measure that cost too.
        eval_us = _median_us(lambda p=program: p.execute(context), EVAL_RUNS)
        fresh_us = _median_us(lambda p=program: p.execute(CONTEXT), EVAL_RUNS)
        out[name] = {"compile_us": compile_us, "eval_us": eval_us, "eval_dict_us": fresh_us}
    return out


def measure_celpy() -> dict[str, dict[str, float]]:
    env = celpy.Environment()
    activation = celpy.json_to_cel(CONTEXT)
    out = {}
    for name, expression in RULES.items():
        compile_us = _median_us(lambda e=expression: env.program(env.compile(e)), COMPILE_RUNS)
        program = env.program(env.compile(expression))
        eval_us = _median_us(lambda p=program: p.evaluate(activation), EVAL_RUNS // 10)
        fresh_us = _median_us(
            lambda p=program: p.evaluate(celpy.json_to_cel(CONTEXT)), EVAL_RUNS // 10
        )
        out[name] = {"compile_us": compile_us, "eval_us": eval_us, "eval_dict_us": fresh_us}
    return out


def main() -> None:
    results = {"cel (Rust)": measure_rust(), "celpy (pure Python)": measure_celpy()}
    print(
        f"{'implementation':22} {'rule':22} {'compile_us':>11} {'eval_us':>9} {'eval+ctx_us':>12}"
    )
    for impl, rules in results.items():
        for rule, figures in rules.items():
            print(
                f"{impl:22} {rule:22} {figures['compile_us']:11.1f} {figures['eval_us']:9.1f} "
                f"{figures['eval_dict_us']:12.1f}"
            )
    summary = {
        impl: {
            "compile_us_median": statistics.median(r["compile_us"] for r in rules.values()),
            "eval_us_median": statistics.median(r["eval_us"] for r in rules.values()),
            "eval_with_context_us_median": statistics.median(
                r["eval_dict_us"] for r in rules.values()
            ),
        }
        for impl, rules in results.items()
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
