"""Circuit breakers, one per provider, shared by every process through a PostgreSQL row.

Why a row and not the cache: opening, probing and closing are read-modify-write steps; a row
lock (`SELECT … FOR UPDATE`) makes them atomic across web and worker processes on any number
of hosts, with no extra infrastructure. Each provider call costs one short locked update.

States:
- closed: calls pass. It opens after `failure_threshold` consecutive failures, or when the
  window (`window_s`) holds at least `min_calls` calls of which `error_rate` failed.
- open: calls are refused until `open_s` has passed since it opened; then it goes half-open.
- half-open: up to `half_open_probes` calls are let through at a time; a success closes the
  breaker, a failure opens it again for another `open_s`.

A failure is a provider error or a timeout; declines are the provider working normally.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from routing.conf import BreakerSettings, breaker_settings
from routing.interface import Outcome
from routing.models import BreakerState

FAILURE_OUTCOMES = frozenset({Outcome.PROVIDER_ERROR, Outcome.TIMEOUT_UNKNOWN})


@dataclass(frozen=True)
class BreakerView:
    provider: str
    state: str
    consecutive_failures: int
    window_calls: int
    window_failures: int


def _locked(provider: str) -> BreakerState:
    BreakerState.objects.get_or_create(provider=provider)
    return BreakerState.objects.select_for_update().get(provider=provider)


def _open_expired(row: BreakerState, settings: BreakerSettings, now: dt.datetime) -> bool:
    return row.opened_at is None or now - row.opened_at >= dt.timedelta(seconds=settings.open_s)


def acquire(*, provider: str) -> bool:
    """May a call go to `provider` now? A half-open breaker admits a bounded number of probes;
    the caller must then call `record` with the outcome (which releases the probe)."""
    # Fast path, one unlocked read: a closed breaker admits every call, and deciding that
    # needs no lock (the hot path of every authorization).
    if BreakerState.objects.filter(provider=provider, state=BreakerState.CLOSED).exists():
        return True
    settings = breaker_settings()
    now = timezone.now()
    with transaction.atomic():
        row = _locked(provider)
        if row.state == BreakerState.CLOSED:
            return True
        if row.state == BreakerState.OPEN:
            if not _open_expired(row, settings, now):
                return False
            row.state = BreakerState.HALF_OPEN
            row.probes_in_flight = 0
        if row.probes_in_flight >= settings.half_open_probes:
            # A probe that died without reporting would block forever: after another open_s
            # the slot is considered lost and handed out again.
            if not _open_expired(row, settings, now):
                row.save()
                return False
            row.probes_in_flight = 0
        row.probes_in_flight += 1
        row.opened_at = now  # times the probe slot (see above)
        row.save()
        return True


def is_available(*, provider: str) -> bool:
    """A read-only look (for ranking): closed, or open long enough to be probed."""
    row = BreakerState.objects.filter(provider=provider).first()
    if row is None or row.state == BreakerState.CLOSED:
        return True
    settings = breaker_settings()
    return _open_expired(row, settings, timezone.now()) or (
        row.state == BreakerState.HALF_OPEN and row.probes_in_flight < settings.half_open_probes
    )


def record(*, provider: str, outcome: Outcome) -> str:
    """Count one call's outcome; returns the breaker state afterwards."""
    settings = breaker_settings()
    now = timezone.now()
    failed = outcome in FAILURE_OUTCOMES
    if not failed:
        # Fast path, one UPDATE and no explicit lock: a success on a closed breaker inside the
        # current window only counts the call and clears the failure streak.
        counted = BreakerState.objects.filter(
            provider=provider,
            state=BreakerState.CLOSED,
            window_started_at__gt=now - dt.timedelta(seconds=settings.window_s),
        ).update(window_calls=F("window_calls") + 1, consecutive_failures=0, updated=now)
        if counted:
            return BreakerState.CLOSED
    with transaction.atomic():
        row = _locked(provider)
        if row.window_started_at is None or now - row.window_started_at >= dt.timedelta(
            seconds=settings.window_s
        ):
            row.window_started_at, row.window_calls, row.window_failures = now, 0, 0
        row.window_calls += 1
        row.window_failures += int(failed)
        row.consecutive_failures = row.consecutive_failures + 1 if failed else 0
        if row.state == BreakerState.HALF_OPEN:
            row.probes_in_flight = max(row.probes_in_flight - 1, 0)
            if failed:
                _open(row, now)
            else:
                _close(row, now)
        elif row.state == BreakerState.CLOSED and failed and _should_open(row, settings):
            _open(row, now)
        row.save()
        return row.state


def _should_open(row: BreakerState, settings: BreakerSettings) -> bool:
    if row.consecutive_failures >= settings.failure_threshold:
        return True
    return (
        row.window_calls >= settings.min_calls
        and row.window_failures >= settings.error_rate * row.window_calls
    )


def _open(row: BreakerState, now: dt.datetime) -> None:
    row.state, row.opened_at, row.probes_in_flight = BreakerState.OPEN, now, 0


def _close(row: BreakerState, now: dt.datetime) -> None:
    row.state, row.opened_at, row.probes_in_flight = BreakerState.CLOSED, None, 0
    row.consecutive_failures, row.window_started_at = 0, now
    row.window_calls, row.window_failures = 0, 0


def reset(*, provider: str) -> None:
    """Close a breaker by hand (admin action)."""
    with transaction.atomic():
        row = _locked(provider)
        _close(row, timezone.now())
        row.save()


def view(*, provider: str) -> BreakerView:
    row = BreakerState.objects.filter(provider=provider).first() or BreakerState(provider=provider)
    return BreakerView(
        provider=provider,
        state=row.state,
        consecutive_failures=row.consecutive_failures,
        window_calls=row.window_calls,
        window_failures=row.window_failures,
    )
