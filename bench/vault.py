"""Benchmark the vault: tokenizations per second through the API, detokenization latency.

Creates its own throw-away database (Django's test-database machinery, name from
TEST_DB_NAME, default `bench_vault`), runs in process through Django's test client (the full
middleware, authentication, idempotency and validation stack; no HTTP socket), prints one JSON
line, drops the database, and rewrites the "## vault" section of bench/RESULTS.md (only that
section; `--no-write` to skip).

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/vault.py [--tokens 1000] [--detokenize 1000] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import UTC, datetime
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
RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_HEADING = "## vault"
COMMAND = (
    "DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres "
    ".venv/bin/python bench/vault.py"
)
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


def _environment() -> dict[str, str]:
    from django.conf import settings

    from tokenization.conf import redis_cache_configured

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    host = settings.DATABASES["default"].get("HOST") or "local socket"
    load_1m = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "postgres": f"PostgreSQL {server_version} at {host}",
        "cvc_store": "Redis" if redis_cache_configured() else "process-local memory (no Redis)",
        "cores": str(os.cpu_count()),
        "machine": platform.machine(),
        "load_1m": f"{load_1m:.1f}",
    }


def render_section(result: dict[str, float | int], environment: dict[str, str]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""{SECTION_HEADING}

- date: {now}; {environment["postgres"]}; CVC held in {environment["cvc_store"]};
  {environment["cores"]} cores ({environment["machine"]}), load average (1 min) at the end \
{environment["load_1m"]} (shared with other engineers' test runs: figures are noisy)
- command: `{COMMAND}`
- {result["tokens"]} tokenizations through `POST /api/tokens` (publishable key, Idempotency-Key,
  after {WARMUP_REQUESTS} warm-up), one client in process; {result["detokenizations"]} \
detokenizations (audited)

| measure | value |
|---|---|
| tokenizations/s (one client, in process) | {result["tokenizations_per_s"]} \
({result["tokenize_mean_ms"]} ms each) |
| detokenize p50 | {result["detokenize_p50_ms"]} ms |
| detokenize p99 | {result["detokenize_p99_ms"]} ms |

- a tokenization is API-key lookup, idempotency claim and completion, and the token insert;
  AES-GCM and HMAC are microseconds. The sealed CVC goes to Redis or process memory, never to
  PostgreSQL (docs/vault.md, CVC).
"""


def write_section(section: str, *, path: Path = RESULTS_PATH) -> None:
    """Replace the "## vault" section of RESULTS.md (up to the next "## " heading) or append it;
    every other section is left byte for byte."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION_HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = section.rstrip("\n") + "\n\n"
    if pattern.search(text):
        updated = pattern.sub(lambda _: block, text, count=1)
    else:
        updated = text.rstrip("\n") + "\n\n" + block
    path.write_text(updated.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--detokenize", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        result = run(tokens=args.tokens, detokenizations=args.detokenize)
        environment = _environment()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(
        f"vault: {result['tokenizations_per_s']} tokenizations/s through POST /api/tokens "
        f"({result['tokens']} tokens); detokenize p50 {result['detokenize_p50_ms']} ms, "
        f"p99 {result['detokenize_p99_ms']} ms ({result['detokenizations']} calls)"
    )
    print(json.dumps({"bench": "vault", **result}))
    if not args.no_write:
        write_section(render_section(result, environment))
        print(f"wrote the {SECTION_HEADING!r} section of {RESULTS_PATH}")


if __name__ == "__main__":
    main()
