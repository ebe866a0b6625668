"""config/cache.py: the Redis cache builds one client per connection pool, not one per call."""

from __future__ import annotations

import uuid

import pytest
import redis

from config.cache import RedisCache

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def cache():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.fail("these tests need Redis at 127.0.0.1:6379")
    return RedisCache(REDIS_URL, {"KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"})


def test_every_call_reuses_one_client(cache):
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client(write=False) is client  # one server: reads share its pool


def test_the_reused_client_still_does_the_cache_s_work(cache):
    assert cache.add("k", {"v": 1}, 30)
    assert not cache.add("k", {"v": 2}, 30)
    assert cache.get("k") == {"v": 1}
    assert cache.add("n", 0, 30)
    assert cache.incr("n") == 1
    assert cache.delete("k")
    assert cache.get("k") is None


def test_take_gets_and_deletes_in_one_command(cache):
    cache.set("cvc", b"sealed", 30)
    client = cache.redis_client()
    before = client.info("commandstats").get("cmdstat_getdel", {}).get("calls", 0)

    assert cache.take("cvc") == b"sealed"
    assert cache.take("cvc") is None
    assert cache.get("cvc") is None
    assert client.info("commandstats")["cmdstat_getdel"]["calls"] == before + 2
