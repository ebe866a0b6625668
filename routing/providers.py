"""Provider metadata as plain values, cached with a long TTL and invalidated on save; fees.

Routing reads every enabled provider's configuration on every payment, so it comes from the
cache (`provider_configs`); saving or deleting a `Provider` row drops the cache entry (the
signal receivers are connected in `RoutingConfig.ready`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from routing.conf import provider_cache_ttl_s
from routing.fees import BASIS_POINTS, FeeRule, InvalidFeeSchedule, parse_fee_schedule
from routing.models import Provider

logger = logging.getLogger("qr.routing")

CACHE_KEY = "routing:providers:v2"


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str
    enabled: bool
    methods: tuple[str, ...]
    currencies: tuple[str, ...]
    brands: tuple[str, ...]
    fees: dict[str, FeeRule]
    priority: int
    weight: int
    credentials_env: str
    timeout_ms: int
    base_url: str = ""

    def supports(self, *, method: str, currency: str, brand: str) -> str:
        """'' when this provider can take the payment, else why not."""
        if not self.enabled:
            return "disabled"
        if method not in self.methods:
            return f"method {method} not supported"
        if self.currencies and currency.upper() not in self.currencies:
            return f"currency {currency} not supported"
        if self.brands and brand and brand.lower() not in self.brands:
            return f"brand {brand} not supported"
        return ""

    def fee_minor(self, *, amount_minor: int, currency: str) -> int:
        """Same formula as the simulator: fixed + percentage rounded half up."""
        rule = self.fees.get(currency.upper()) or self.fees.get("*") or FeeRule(0, 0)
        return rule.fixed_minor + (amount_minor * rule.percent_bp + BASIS_POINTS // 2) // (
            BASIS_POINTS
        )


def _config(row: Provider) -> ProviderConfig:
    return ProviderConfig(
        name=row.name,
        kind=row.kind,
        enabled=row.enabled,
        methods=tuple(row.methods),
        currencies=tuple(c.upper() for c in row.currencies),
        brands=tuple(b.lower() for b in row.brands),
        fees=parse_fee_schedule(row.fee_schedule or {}),
        priority=row.priority,
        weight=row.weight,
        credentials_env=row.credentials_env,
        timeout_ms=row.timeout_ms,
        base_url=row.base_url,
    )


def provider_configs() -> dict[str, ProviderConfig]:
    """Every provider (enabled or not) by name, from the cache when it is warm. A provider
    whose stored fee schedule is invalid (written around the admin's validation) is left out
    and logged as an error: one bad row must not fail every payment."""
    configs = cache.get(CACHE_KEY)
    if configs is None:
        configs = {}
        for row in Provider.objects.all():
            try:
                configs[row.name] = _config(row)
            except InvalidFeeSchedule as exc:
                logger.error("provider %s skipped: invalid fee schedule: %s", row.name, exc)
        cache.set(CACHE_KEY, configs, provider_cache_ttl_s())
    return configs


def provider_config(name: str) -> ProviderConfig | None:
    return provider_configs().get(name)


def invalidate(**_: Any) -> None:
    """Signal receiver for Provider post_save / post_delete."""
    cache.delete(CACHE_KEY)
