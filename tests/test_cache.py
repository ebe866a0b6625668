"""core/cache.py: the Redis cache builds one client per connection pool, not one per call,
and a Redis that stops answering fails a call within the configured timeout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from core.cache import RedisCache

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


def test_a_redis_that_never_answers_fails_the_call_within_the_timeout():
    """A server that accepts connections and then says nothing (what a partition without a
    reset looks like): the cache call raises a TimeoutError instead of waiting forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)  # held open, never answered

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    options = {"socket_timeout": 0.2, "socket_connect_timeout": 0.2}
    silent = RedisCache(f"redis://127.0.0.1:{port}/0", {"OPTIONS": options})
    outcome: list[BaseException | None] = []

    def take() -> None:
        try:
            silent.take("k")
            outcome.append(None)
        except BaseException as error:  # reported below
            outcome.append(error)

    try:
        started = time.monotonic()
        caller = threading.Thread(target=take, daemon=True)  # a hang must not hang the suite
        caller.start()
        caller.join(5)
        assert not caller.is_alive(), "the cache call is still waiting for Redis"
        assert isinstance(outcome[0], redis.TimeoutError), outcome
        assert time.monotonic() - started < 2.0
        assert accepted  # it did connect: the wait was for an answer
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


PROBE = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps(settings.CACHES["default"].get("OPTIONS", {})))
"""


def test_the_settings_give_the_redis_cache_its_timeouts():
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": REDIS_URL,
        "REDIS_SOCKET_TIMEOUT_S": "0.7",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    options = json.loads(result.stdout.strip().splitlines()[-1])
    assert options == {"socket_timeout": 0.7, "socket_connect_timeout": 0.7}
