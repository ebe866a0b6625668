"""fraud: amounts in the reference currency, through the admin-maintained FX table.

Exact decimal arithmetic on integer minor units; the result is rounded half-up to an integer
number of reference-currency minor units. A currency with no rate gets no conversion (its amount
is taken as is) and a warning, so a missing rate never stops a payment.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import ROUND_HALF_UP, Decimal

from fraud.models import FxRate

logger = logging.getLogger("qr.fraud")

REFERENCE_CURRENCY = "EUR"
REFERENCE_EXPONENT = 2
# Rates are read from the table at most this often per process (an edit applies within it).
FX_CACHE_TTL_S = 60.0

_lock = threading.Lock()
_rates: dict[str, tuple[int, Decimal]] = {}
_loaded_at = -FX_CACHE_TTL_S


def reset_cache() -> None:
    global _loaded_at
    with _lock:
        _loaded_at = -FX_CACHE_TTL_S


def _rate(currency: str) -> tuple[int, Decimal] | None:
    global _rates, _loaded_at
    now = time.monotonic()
    if now - _loaded_at >= FX_CACHE_TTL_S:
        with _lock:
            rows = FxRate.objects.values_list("currency", "exponent", "rate_to_reference")
            _rates = {code: (exponent, rate) for code, exponent, rate in rows}
            _loaded_at = now
    return _rates.get(currency)


def to_reference_minor(*, amount_minor: int, currency: str) -> int:
    currency = currency.upper()
    if currency == REFERENCE_CURRENCY:
        return amount_minor
    rate = _rate(currency)
    if rate is None:
        logger.warning("fraud: no FX rate for %s; using the amount unconverted", currency)
        return amount_minor
    exponent, rate_to_reference = rate
    scale = Decimal(10) ** (REFERENCE_EXPONENT - exponent)
    value = Decimal(amount_minor) * rate_to_reference * scale
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
