"""payments: the service-level indicators (SLIs) of the payment flow, computed from stored data.

Reads routing's provider attempts and the ledger's trial-balance runs through their selectors
(`routing.selectors.auth_stats`, `provider_call_stats`; `ledger.selectors.trial_balance_runs`)
and exposes them, with the Prometheus collector, on /metrics:

- authorization success rate and latency (a histogram, so p95 can be read) per provider,
  method and currency;
- capture, refund and void error rates (every such provider call is an attempt row too);
- the ledger's balance-check (trial balance) results.

Everything is read from PostgreSQL at scrape or page time, never kept in process memory, so
the figures survive restarts and every gunicorn worker reports the same numbers. The admin
dashboard (payments/dashboard.py) reads the same functions.

The dashboard needs p95 per provider (percentiles of groups cannot be combined), hence the
grouping parameter of `auth_stats`. Definitions:

- an authorization attempt counts once it is resolved (outcome other than `pending`);
- success = outcome `approved` (as in `routing.selectors.auth_stats`, so the routing admin and
  this dashboard agree); declines, provider errors, timeouts and open 3-D Secure challenges are
  the rest;
- a capture/refund/void call is an error unless its outcome is `approved`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from core import metrics as config_metrics
from ledger import selectors as ledger_selectors
from routing import selectors as routing_selectors

logger = logging.getLogger("qr.payments.metrics")

# Upper bounds (inclusive) of the authorization latency histogram; +Inf is added.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000)
# The window of the "recent" gauges (success ratio, p95, error ratio) on /metrics.
RECENT_WINDOW_S = 3600
# Bounds on what one query may return, so a scrape or a page stays small whatever the data.
MAX_SERIES = 2000
AUTH_DIMENSIONS = routing_selectors.AUTH_DIMENSIONS


@dataclass(frozen=True)
class AuthStat:
    """Authorization attempts of one group (and one time bucket when bucketed)."""

    provider: str
    method: str
    currency: str
    bucket_start: datetime | None
    attempts: int
    succeeded: int
    latency_ms_p95: float | None

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.attempts if self.attempts else None


@dataclass(frozen=True)
class ProviderCallStat:
    """Capture, refund or void calls of one provider and their errors."""

    provider: str
    kind: str
    calls: int
    errors: int

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


@dataclass(frozen=True)
class TrialBalanceResult:
    started_at: datetime
    ok: bool
    duration_ms: int
    entries_count: int
    failures_count: int


def auth_stats(
    *,
    since: datetime,
    until: datetime | None = None,
    bucket_s: int | None = None,
    by: tuple[str, ...] = AUTH_DIMENSIONS,
) -> list[AuthStat]:
    """Resolved authorization attempts in [since, until): count, successes and p95 latency per
    group of `by` (and per `bucket_s`-second bucket aligned to `since` when given)."""
    return [
        AuthStat(
            provider=stat.provider,
            method=stat.method,
            currency=stat.currency,
            bucket_start=stat.bucket_start,
            attempts=stat.count,
            succeeded=stat.approved,
            latency_ms_p95=stat.latency_ms_p95,
        )
        for stat in routing_selectors.auth_stats(
            since=since, until=until, bucket_s=bucket_s, by=by
        )[:MAX_SERIES]
    ]


def provider_call_stats(*, since: datetime | None = None) -> list[ProviderCallStat]:
    """Capture, refund and void calls per provider since `since` (all time when None)."""
    return [
        ProviderCallStat(provider=s.provider, kind=s.kind, calls=s.calls, errors=s.errors)
        for s in routing_selectors.provider_call_stats(since=since)[:MAX_SERIES]
    ]


def trial_balance_results(*, limit: int = 1) -> list[TrialBalanceResult]:
    """The latest ledger trial-balance runs, newest first."""
    return [
        TrialBalanceResult(
            started_at=run.started_at,
            ok=run.ok,
            duration_ms=run.duration_ms,
            entries_count=run.entries_count,
            failures_count=run.failures_count,
        )
        for run in ledger_selectors.trial_balance_runs(limit=limit)
    ]


# --- Prometheus -----------------------------------------------------------------------------------


def _auth_families() -> Iterator[Metric]:
    """All-time counters and the latency histogram (monotonic: attempts are never deleted)."""
    rows = routing_selectors.auth_outcome_counts(latency_bounds_ms=LATENCY_BUCKETS_MS)[:MAX_SERIES]
    labels = ["provider", "method", "currency"]
    attempts = CounterMetricFamily(
        "qr_auth_attempts",
        "Resolved authorization attempts by outcome",
        labels=[*labels, "outcome"],
    )
    # Sum the per-outcome rows into one histogram per (provider, method, currency).
    latency: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        key = (row.provider, row.method, row.currency)
        attempts.add_metric([*key, row.outcome], row.count)
        # Per bound, then how many have a latency at all (+Inf), then their sum.
        values = (*row.at_most_ms, row.with_latency, row.latency_ms_sum)
        acc = latency.setdefault(key, [0.0] * len(values))
        for i, value in enumerate(values):
            acc[i] += float(value)
    histogram = HistogramMetricFamily(
        "qr_auth_latency_ms", "Authorization latency at the provider (ms)", labels=labels
    )
    for key, acc in latency.items():
        buckets = [(str(b), acc[i]) for i, b in enumerate(LATENCY_BUCKETS_MS)]
        buckets.append(("+Inf", acc[len(LATENCY_BUCKETS_MS)]))
        histogram.add_metric(list(key), buckets, sum_value=acc[-1])
    yield attempts
    yield histogram
    yield from _recent_auth_families()


def _recent_auth_families() -> Iterator[Metric]:
    since = timezone.now() - timedelta(seconds=RECENT_WINDOW_S)
    labels = ["provider", "method", "currency"]
    ratio = GaugeMetricFamily(
        "qr_auth_success_ratio",
        f"Authorization success ratio over the last {RECENT_WINDOW_S}s",
        labels=labels,
    )
    p95 = GaugeMetricFamily(
        "qr_auth_latency_p95_ms",
        f"Authorization latency p95 over the last {RECENT_WINDOW_S}s (ms)",
        labels=labels,
    )
    for stat in auth_stats(since=since):
        key = [stat.provider, stat.method, stat.currency]
        ratio.add_metric(key, stat.success_rate or 0.0)
        if stat.latency_ms_p95 is not None:
            p95.add_metric(key, stat.latency_ms_p95)
    yield ratio
    yield p95


def _provider_call_families() -> Iterator[Metric]:
    calls = CounterMetricFamily(
        "qr_provider_calls", "Capture, refund and void calls", labels=["provider", "kind"]
    )
    errors = CounterMetricFamily(
        "qr_provider_call_errors",
        "Capture, refund and void calls that did not succeed",
        labels=["provider", "kind"],
    )
    for stat in provider_call_stats():
        calls.add_metric([stat.provider, stat.kind], stat.calls)
        errors.add_metric([stat.provider, stat.kind], stat.errors)
    ratio = GaugeMetricFamily(
        "qr_provider_call_error_ratio",
        f"Capture, refund and void error ratio over the last {RECENT_WINDOW_S}s",
        labels=["provider", "kind"],
    )
    since = timezone.now() - timedelta(seconds=RECENT_WINDOW_S)
    for stat in provider_call_stats(since=since):
        ratio.add_metric([stat.provider, stat.kind], stat.error_rate or 0.0)
    yield calls
    yield errors
    yield ratio


def _trial_balance_families() -> Iterator[Metric]:
    results = trial_balance_results(limit=1)
    if not results:
        return
    last = results[0]
    yield GaugeMetricFamily(
        "qr_ledger_trial_balance_ok", "1 if the last trial balance passed, else 0", value=last.ok
    )
    yield GaugeMetricFamily(
        "qr_ledger_trial_balance_last_run_timestamp_seconds",
        "When the last trial balance started (Unix time)",
        value=last.started_at.timestamp(),
    )
    yield GaugeMetricFamily(
        "qr_ledger_trial_balance_failures",
        "Failures found by the last trial balance",
        value=last.failures_count,
    )
    yield GaugeMetricFamily(
        "qr_ledger_trial_balance_duration_ms",
        "Duration of the last trial balance (ms)",
        value=last.duration_ms,
    )


class PaymentSliCollector(Collector):
    """Computes the SLI series from PostgreSQL at every scrape."""

    def collect(self) -> Iterator[Metric]:
        families: list[Metric] = []
        ok = 1
        try:
            families += _auth_families()
            families += _provider_call_families()
            families += _trial_balance_families()
        except DatabaseError:
            # A database outage must not take /metrics (and the HTTP series) down with it;
            # the failure itself is the signal.
            logger.exception("could not compute the payment SLIs")
            ok = 0
        yield from families
        yield GaugeMetricFamily(
            "qr_sli_collection_ok", "1 if the SLI series could be read from the database", ok
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())  # computed at scrape time only; never at registration


COLLECTOR = PaymentSliCollector()
config_metrics.register_collector(COLLECTOR)
