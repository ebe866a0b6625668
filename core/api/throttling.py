"""Per-key rate limiting: 429 `rate_limit_error` with Retry-After (rates in settings).

With the Redis cache (production: REDIS_URL set), the limit is a generic cell rate algorithm
(GCRA) run by one Lua script: one round trip and one small key per API key, checked and updated
atomically, so concurrent requests on several web processes never overshoot it. A rate of
`n/period` admits a burst of n requests, then one every period/n; Retry-After says when the next
one is admitted. Without Redis, DRF's sliding log in the cache does the job (a list of request
times per key, read and written back each request: fine for the database cache of a laptop).

If Redis fails, requests are let through (and a warning logged): a rate limiter's store being
down must not stop payments.
"""

from __future__ import annotations

import logging

import redis
from django.core.cache import caches
from redis.commands.core import Script
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.cache import RedisCache

logger = logging.getLogger("qr.api")

# KEYS[1]: the key's theoretical arrival time (TAT). ARGV: now, emission interval, period (s).
# Admitted when the TAT, one interval on, is no more than a period ahead of now. The answer is
# {1} (admitted, TAT moved on) or {0, seconds until the next admission} (nothing changed).
GCRA_SCRIPT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
    tat = now
end
local next_tat = tat + interval
if next_tat - period > now then
    return {0, string.format('%.6f', next_tat - period - now)}
end
redis.call('SET', KEYS[1], string.format('%.6f', next_tat),
           'PX', math.ceil((next_tat - now) * 1000) + 1000)
return {1}
"""


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"
    _retry_after_s: float | None = None

    @property
    def cache(self):  # the cache itself: DRF's default is a proxy, which hides its class
        return caches["default"]

    def get_rate(self) -> str | None:
        # Read at request time (DRF reads it once at import), so settings changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Request, view: object) -> str | None:
        api_key = request.auth
        if api_key is None:
            return None  # unauthenticated requests fail authentication anyway
        return f"throttle:{self.scope}:{api_key.pk}"

    def allow_request(self, request: Request, view: object) -> bool:
        if self.rate is None or not isinstance(self.cache, RedisCache):
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            retry_after_s = gcra(
                self.cache,
                self.cache.make_and_validate_key(self.key),
                now=self.timer(),
                interval_s=self.duration / self.num_requests,
                period_s=self.duration,
            )
        except redis.RedisError as error:
            logger.warning("rate limit not checked, Redis failed: %s", error)
            return True
        self._retry_after_s = retry_after_s
        return retry_after_s is None

    def wait(self) -> float | None:
        if self._retry_after_s is not None:  # the GCRA's answer
            return self._retry_after_s
        return super().wait()


_script: Script | None = None


def gcra(
    cache: RedisCache, key: str, *, now: float, interval_s: float, period_s: float
) -> float | None:
    """None when a request at `now` is admitted (and counted), else the seconds until one is."""
    global _script
    client = cache.redis_client()
    if _script is None:  # one per process, run on whichever client (EVALSHA, else EVAL)
        _script = client.register_script(GCRA_SCRIPT)
    args = [f"{now:.6f}", f"{interval_s:.6f}", f"{period_s:.6f}"]
    admitted, *wait = _script(keys=[key], args=args, client=client)
    return None if admitted else float(wait[0])
