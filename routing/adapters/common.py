"""What the SDK-based adapters (Stripe, Adyen) share: classifying a transport failure, scrubbing
card data out of raw responses, timing a call. Both SDKs here send with `requests`."""

from __future__ import annotations

import time

import requests

from routing.adapters.scrubbing import scrub
from routing.interface import Outcome

__all__ = ["Stopwatch", "scrub", "transport_outcome"]


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
