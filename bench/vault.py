"""Benchmark the vault: tokenizations per second through the API, detokenization latency.

Creates its own throw-away database (Django's test-database machinery, name from
TEST_DB_NAME, default `bench_vault`), runs in process through Django's test client (the full
middleware, authentication, idempotency and validation stack; no HTTP socket), prints one JSON
line, and drops the database.

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/vault.py [--tokens 1000] [--detokenize 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("TEST_DB_NAME", "bench_vault")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

WARMUP_REQUESTS = 20
TEST_CARDS = ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"]


def _percentile(samples_ms: list[float], fraction: float) -> float:
    ordered = sorted(samples_ms)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(*, tokens: int, detokenizations: int) -> dict[str, float | int]:
    from merchants import services as merchant_services
    from tokenization import services

    merchant = merchant_services.get_or_create_merchant(name="Bench Shop")
    key = merchant_services.create_api_key(
        merchant=merchant, kind="publishable", livemode=False
    ).plaintext
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    def tokenize(index: int) -> str:
        number = TEST_CARDS[index % len(TEST_CARDS)]
        body = {"card": {"number": number, "exp_month": 12, "exp_year": 2035,
                         "cvc": "1234" if number.startswith("37") else "123"}}  # fmt: skip
        response = client.post(
            "/api/tokens", body, format="json", HTTP_IDEMPOTENCY_KEY=f"bench-{index}"
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    for index in range(WARMUP_REQUESTS):
        tokenize(-1 - index)
    started = time.perf_counter()
    token_ids = [tokenize(index) for index in range(tokens)]
    elapsed_s = time.perf_counter() - started

    latencies_ms = []
    for index in range(detokenizations):
        token_id = token_ids[index % len(token_ids)]
        t0 = time.perf_counter()
        services.detokenize(token_id=token_id, merchant_id=merchant.pk, livemode=False,
                            actor="bench", purpose="benchmark")  # fmt: skip
        latencies_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "tokens": tokens,
        "tokenizations_per_s": round(tokens / elapsed_s, 1),
        "tokenize_mean_ms": round(elapsed_s / tokens * 1000, 2),
        "detokenizations": detokenizations,
        "detokenize_p50_ms": round(statistics.median(latencies_ms), 3),
        "detokenize_p99_ms": round(_percentile(latencies_ms, 0.99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--detokenize", type=int, default=1000)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        result = run(tokens=args.tokens, detokenizations=args.detokenize)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(
        f"vault: {result['tokenizations_per_s']} tokenizations/s through POST /api/tokens "
        f"({result['tokens']} tokens); detokenize p50 {result['detokenize_p50_ms']} ms, "
        f"p99 {result['detokenize_p99_ms']} ms ({result['detokenizations']} calls)"
    )
    print(json.dumps({"bench": "vault", **result}))


if __name__ == "__main__":
    main()
