"""fraud: amounts in the reference currency, through the admin-maintained FX table.

Exact decimal arithmetic on integer minor units; the result is rounded half-up to an integer
number of reference-currency minor units. A currency with no rate has no reference amount
(None; rules see `amount_ref_known == false`), and the missing rate is logged once per currency
per process, so a missing rate never stops a payment and never floods the log.
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
# Currencies whose missing rate this process already logged (bounded by the ISO 4217 list).
_missing_logged: set[str] = set()


def reset_cache() -> None:
    global _loaded_at
    with _lock:
        _loaded_at = -FX_CACHE_TTL_S
        _missing_logged.clear()


def _rate(currency: str) -> tuple[int, Decimal] | None:
    global _rates, _loaded_at
    now = time.monotonic()
    if now - _loaded_at >= FX_CACHE_TTL_S:
        with _lock:
            rows = FxRate.objects.values_list("currency", "exponent", "rate_to_reference")
            # Upper-cased here too: a row written around FxRate.save() still matches.
            _rates = {code.upper(): (exponent, rate) for code, exponent, rate in rows}
            _loaded_at = now
    return _rates.get(currency)


def _log_missing_once(currency: str) -> None:
    if currency in _missing_logged:
        return
    with _lock:
        if currency in _missing_logged:
            return
        _missing_logged.add(currency)
    logger.warning(
        "fraud: no FX rate for %s; amount_ref is unknown for its payments until one is added "
        "in the admin (logged once per process)",
        currency,
    )


def to_reference_minor(*, amount_minor: int, currency: str) -> int | None:
    """The amount in reference-currency minor units, or None when `currency` has no rate."""
    currency = currency.strip().upper()
    if currency == REFERENCE_CURRENCY:
        return amount_minor
    rate = _rate(currency)
    if rate is None:
        _log_missing_once(currency)
        return None
    exponent, rate_to_reference = rate
    scale = Decimal(10) ** (REFERENCE_EXPONENT - exponent)
    value = Decimal(amount_minor) * rate_to_reference * scale
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
