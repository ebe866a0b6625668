"""Per-key rate limiting: 429 `rate_limit_error` with Retry-After (rates in settings)."""

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read at request time (DRF reads it once at import), so settings changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Request, view: object) -> str | None:
        api_key = request.auth
        if api_key is None:
            return None  # unauthenticated requests fail authentication anyway
        return f"throttle:{self.scope}:{api_key.pk}"
