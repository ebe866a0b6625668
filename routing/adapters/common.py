"""What the SDK-based adapters (Stripe, Adyen) share: classifying a transport failure, scrubbing
card data out of raw responses, timing a call. Both SDKs here send with `requests`."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import requests

from routing.interface import Outcome

_SENSITIVE_KEYS = frozenset(
    {"number", "cvc", "cvv", "pan", "card_number", "cardnumber", "expirymonth", "expiryyear",
     "encryptedcardnumber", "encryptedsecuritycode", "client_secret", "token"}
)  # fmt: skip
# 12-19 digits standing alone: a possible card number; keep first 6 / last 4 at most.
_PAN_LIKE = re.compile(r"(?<![\w.])\d{12,19}(?![\w.])")


def scrub(value: Any) -> Any:
    """A copy with card numbers, CVCs, expiry fields and client secrets removed."""
    if isinstance(value, Mapping):
        return {
            key: "[scrubbed]" if str(key).lower() in _SENSITIVE_KEYS else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return _PAN_LIKE.sub(lambda m: f"{m[0][:6]}{'*' * (len(m[0]) - 10)}{m[0][-4:]}", value)
    return value


def transport_outcome(exc: BaseException) -> Outcome:
    """A failure with no HTTP answer: PROVIDER_ERROR when the request surely never reached the
    provider (connection refused, connect timeout), TIMEOUT_UNKNOWN when it may have."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.ConnectTimeout):
            return Outcome.PROVIDER_ERROR
        if isinstance(current, requests.exceptions.ReadTimeout):
            return Outcome.TIMEOUT_UNKNOWN
        if isinstance(current, requests.exceptions.ConnectionError) and "Connection refused" in (
            str(current)
        ):
            return Outcome.PROVIDER_ERROR
        current = current.__cause__ or current.__context__
    return Outcome.TIMEOUT_UNKNOWN


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def ms(self) -> int:
        return round((time.perf_counter() - self.started) * 1000)
