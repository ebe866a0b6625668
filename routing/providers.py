"""Provider metadata as plain values, cached with a long TTL and invalidated on save; fees.

Routing reads every provider's configuration on every payment, so it comes from the shared
cache (`provider_configs`), and on top of it from a per-process memo kept for at most
`PROCESS_MEMO_TTL_S` (the shared cache is a database table or Redis: one round trip per read).
Saving or deleting a `Provider` row drops both in the process that saved (the signal receivers
are connected in `RoutingConfig.ready`), again when its transaction commits, and other processes
see the change once their memo expires: at most `PROCESS_MEMO_TTL_S` later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction

from routing.conf import provider_cache_ttl_s
from routing.fees import BASIS_POINTS, FeeRule, InvalidFeeSchedule, parse_fee_schedule
from routing.models import Provider

logger = logging.getLogger("qr.routing")

CACHE_KEY = "routing:providers:v2"
PROCESS_MEMO_TTL_S = 1.0  # how stale another process's provider edit may look here


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


class _ProcessMemo:
    """The configs this process read last, for at most PROCESS_MEMO_TTL_S. One tuple swapped
    whole, so threads need no lock: a reader sees the old entry or the new one."""

    def __init__(self) -> None:
        self._entry: tuple[float, dict[str, ProviderConfig]] | None = None

    def get(self) -> dict[str, ProviderConfig] | None:
        entry = self._entry
        if entry is None or time.monotonic() >= entry[0]:
            return None
        return entry[1]

    def put(self, configs: dict[str, ProviderConfig]) -> None:
        self._entry = (time.monotonic() + PROCESS_MEMO_TTL_S, configs)

    def clear(self) -> None:
        self._entry = None


_memo = _ProcessMemo()


def provider_configs() -> dict[str, ProviderConfig]:
    """Every provider (enabled or not) by name: from this process's memo, else the shared cache
    when it is warm, else the table. A provider whose stored fee schedule is invalid (written
    around the admin's validation) is left out and logged as an error: one bad row must not
    fail every payment. Callers treat the result as read-only (it is shared)."""
    configs = _memo.get()
    if configs is not None:
        return configs
    configs = cache.get(CACHE_KEY)
    if configs is None:
        configs = _read_table()
        cache.set(CACHE_KEY, configs, provider_cache_ttl_s())
    _memo.put(configs)
    return configs


def _read_table() -> dict[str, ProviderConfig]:
    configs = {}
    for row in Provider.objects.all():
        try:
            configs[row.name] = _config(row)
        except InvalidFeeSchedule as exc:
            logger.error("provider %s skipped: invalid fee schedule: %s", row.name, exc)
    return configs


def provider_config(name: str) -> ProviderConfig | None:
    return provider_configs().get(name)


def invalidate(**_: Any) -> None:
    """Signal receiver for Provider post_save / post_delete (and for callers of a bulk
    `QuerySet.update()`). Dropped at once, so this process's own next read sees the change
    (post_save runs inside the saving transaction), and again when that transaction commits:
    a concurrent reader may have cached the old rows in between."""
    _forget()
    transaction.on_commit(_forget)


def _forget() -> None:
    """Drop the shared cache entry and this process's memo."""
    _memo.clear()
    cache.delete(CACHE_KEY)


def forget_process_memo() -> None:
    """Drop only this process's memo (tests: each starts from its own database)."""
    _memo.clear()
