"""The per-key rate limit with the Redis cache (production): a GCRA in one Lua script, one key
per API key, exact under concurrency; Retry-After says when the next request is admitted."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test import override_settings

from core.api import throttling
from tests.merchants.test_errors import assert_error

REDIS_URL = "redis://127.0.0.1:6379/12"

pytestmark = pytest.mark.django_db


def _limits(rate: str):
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": "core.cache.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            }
        },
        REST_FRAMEWORK={
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"api_key": rate},
        },
    )


@pytest.fixture(autouse=True)
def _redis():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.fail("these tests need Redis at 127.0.0.1:6379")


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand."""
    now = {"t": 1_800_000_000.0}
    monkeypatch.setattr(throttling.ApiKeyRateThrottle, "timer", lambda self: now["t"])
    return now


def test_a_burst_of_the_rate_then_one_per_interval(api, clock):
    with _limits("3/min"):
        statuses = [api.get("/api/webhook-endpoints").status_code for _ in range(3)]
        refused = api.get("/api/webhook-endpoints")
        clock["t"] += 19.5
        still_refused = api.get("/api/webhook-endpoints").status_code
        clock["t"] += 0.5  # 20 s: one interval (60 s / 3) since the burst
        admitted = api.get("/api/webhook-endpoints").status_code
        again = api.get("/api/webhook-endpoints").status_code

    assert statuses == [200, 200, 200]
    assert_error(refused, 429, "rate_limit_error", "rate_limit")
    assert refused["Retry-After"] == "20"
    assert (still_refused, admitted, again) == (429, 200, 429)


def test_the_limit_is_one_small_key_per_api_key_in_redis(api, merchant, clock):
    with _limits("3/min"):
        api.get("/api/webhook-endpoints")
        cache = caches["default"]
        client = cache.redis_client()
        keys = [k for k in client.scan_iter(match=f"{cache.key_prefix}*")]
        assert len(keys) == 1
        assert client.type(keys[0]) == b"string"
        assert float(client.get(keys[0])) == pytest.approx(clock["t"] + 20)
        assert 0 < client.pttl(keys[0]) <= 21_000


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_overshoot_the_limit(merchant, clock):
    from tests.conftest import client_for

    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def one() -> None:
        api = client_for(merchant.secret)
        start.wait(timeout=10)
        try:
            status = api.get("/api/webhook-endpoints").status_code
        finally:
            connection.close()
        with lock:
            results.append(status)

    with _limits("10/min"):
        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert sorted(results) == [200] * 10 + [429] * 10


def test_requests_go_through_when_redis_is_down(api, caplog):
    with (
        _limits("1/min"),
        override_settings(
            CACHES={
                "default": {
                    "BACKEND": "core.cache.RedisCache",
                    "LOCATION": "redis://127.0.0.1:1/0",
                }
            }
        ),
    ):
        statuses = [api.get("/api/webhook-endpoints").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert "rate limit not checked" in caplog.text
