"""The Redis cache backend, with one client object per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` around the pool for every cache
call. Building one fills a table of some 170 response callbacks, which made the cache calls of a
payment (rate limit, CVC fetch and delete) cost more Python than their Redis round trips. A
`redis.Redis` is safe to share between threads (each command borrows a connection from the
pool), so it is built once per pool and reused.
"""

from __future__ import annotations

import redis
from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def take(self, key: str, version: int | None = None):
        """Get and delete in one command (GETDEL, Redis 6.2+; a MULTI of GET and DEL before):
        of several takers of one key, exactly one gets the value. None when there is none."""
        client, key = self.redis_client(), self.make_and_validate_key(key, version=version)
        try:
            value = client.getdel(key)
        except redis.ResponseError:  # an older Redis: unknown command
            value, _ = client.pipeline(transaction=True).get(key).delete(key).execute()
        return None if value is None else self._cache._serializer.loads(value)

    def redis_client(self) -> redis.Redis:
        """The `redis.Redis` behind this cache (writes go to the first server), for commands
        the cache API has no word for (the rate limit's Lua script). Keys must come from
        `make_and_validate_key`, as the cache's own do."""
        return self._cache.get_client(write=True)
