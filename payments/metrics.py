"""payments: the service-level indicators (SLIs) of the payment flow, computed from stored data.

Owns the SQL that turns routing's stored provider attempts and the ledger's trial-balance runs
into SLIs, and the Prometheus collector that exposes them on /metrics:

- authorization success rate and latency (a histogram, so p95 can be read) per provider,
  method and currency;
- capture, refund and void error rates (every such provider call is an attempt row too);
- the ledger's balance-check (trial balance) results.

Everything is read from PostgreSQL at scrape or page time, never kept in process memory, so
the figures survive restarts and every gunicorn worker reports the same numbers. The admin
dashboard (payments/dashboard.py) reads the same functions.

The tables belong to `routing` and `ledger`; they are reached through the app registry
(`apps.get_model`) for their table names, so importing this module never imports those apps
(payments/admin.py imports it at start-up). `routing.selectors.auth_stats` answers per
bucket × provider × method × currency only; the dashboard needs p95 per provider (percentiles
of groups cannot be combined), hence the grouping parameter here. Definitions:

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

from django.apps import apps
from django.db import DatabaseError, connection
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from core import metrics as config_metrics

logger = logging.getLogger("qr.payments.metrics")

# Upper bounds (inclusive) of the authorization latency histogram; +Inf is added.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000)
# The window of the "recent" gauges (success ratio, p95, error ratio) on /metrics.
RECENT_WINDOW_S = 3600
# Bounds on what one query may return, so a scrape or a page stays small whatever the data.
MAX_SERIES = 2000
SUCCESS_OUTCOMES = ("approved",)
PROVIDER_CALL_KINDS = ("capture", "refund", "void")
# Grouping columns a caller may ask for (whitelist: they are interpolated into SQL).
AUTH_DIMENSIONS = ("provider", "method", "currency")


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


def _attempt_table() -> str:
    # Interpolated into SQL (with whitelisted column names and integer buckets, never input).
    return apps.get_model("routing", "Attempt")._meta.db_table


def _columns(by: tuple[str, ...]) -> tuple[str, ...]:
    unknown = set(by) - set(AUTH_DIMENSIONS)
    if unknown:
        raise ValueError(f"cannot group authorization stats by {sorted(unknown)}")
    return by


def auth_stats(
    *,
    since: datetime,
    until: datetime | None = None,
    bucket_s: int | None = None,
    by: tuple[str, ...] = AUTH_DIMENSIONS,
) -> list[AuthStat]:
    """Resolved authorization attempts in [since, until): count, successes and p95 latency per
    group of `by` (and per `bucket_s`-second bucket aligned to `since` when given)."""
    columns = _columns(by)
    until = until or timezone.now()
    select = [*columns]
    params: list[object] = []
    if bucket_s:
        select.append("date_bin(make_interval(secs => %s), created, %s)")
        params += [bucket_s, since]
    if not select:
        raise ValueError("group by at least one dimension or a time bucket")
    group = ", ".join(str(i + 1) for i in range(len(select)))
    sql = (
        f"SELECT {', '.join(select)}, count(*), "  # noqa: S608 (see _attempt_table)
        "count(*) FILTER (WHERE outcome = ANY(%s)), "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) "
        f"FROM {_attempt_table()} "
        "WHERE kind = 'authorize' AND outcome <> 'pending' AND created >= %s AND created < %s "
        f"GROUP BY {group} ORDER BY {group} LIMIT %s"
    )
    params += [list(SUCCESS_OUTCOMES), since, until, MAX_SERIES]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    stats = []
    for row in rows:
        labels = dict(zip(columns, row, strict=False))
        rest = row[len(columns) :]
        bucket_start = rest[0] if bucket_s else None
        attempts, succeeded, p95 = rest[-3:]
        stats.append(
            AuthStat(
                provider=labels.get("provider", ""),
                method=labels.get("method", ""),
                currency=labels.get("currency", ""),
                bucket_start=bucket_start,
                attempts=attempts,
                succeeded=succeeded,
                latency_ms_p95=float(p95) if p95 is not None else None,
            )
        )
    return stats


def provider_call_stats(*, since: datetime | None = None) -> list[ProviderCallStat]:
    """Capture, refund and void calls per provider since `since` (all time when None)."""
    where = "kind = ANY(%s) AND outcome <> 'pending'"
    params: list[object] = [list(PROVIDER_CALL_KINDS)]
    if since is not None:
        where += " AND created >= %s"
        params.append(since)
    sql = (
        "SELECT provider, kind, count(*), count(*) FILTER (WHERE outcome <> 'approved') "  # noqa: S608
        f"FROM {_attempt_table()} WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2 LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MAX_SERIES])
        return [ProviderCallStat(*row) for row in cursor.fetchall()]


def trial_balance_results(*, limit: int = 1) -> list[TrialBalanceResult]:
    """The latest ledger trial-balance runs, newest first."""
    run_model = apps.get_model("ledger", "TrialBalanceRun")
    runs = run_model.objects.order_by("-started_at")[:limit]
    return [
        TrialBalanceResult(
            started_at=run.started_at,
            ok=run.ok,
            duration_ms=run.duration_ms,
            entries_count=run.entries_count,
            failures_count=len(run.failures or []),
        )
        for run in runs
    ]


# --- Prometheus -----------------------------------------------------------------------------------


def _auth_families() -> Iterator[Metric]:
    """All-time counters and the latency histogram (monotonic: attempts are never deleted)."""
    bucket_sql = ", ".join(f"count(*) FILTER (WHERE latency_ms <= {b})" for b in LATENCY_BUCKETS_MS)
    sql = (
        f"SELECT provider, method, currency, outcome, count(*), {bucket_sql}, "  # noqa: S608
        "count(latency_ms), coalesce(sum(latency_ms), 0) "
        f"FROM {_attempt_table()} WHERE kind = 'authorize' AND outcome <> 'pending' "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [MAX_SERIES])
        rows = cursor.fetchall()
    labels = ["provider", "method", "currency"]
    attempts = CounterMetricFamily(
        "qr_auth_attempts",
        "Resolved authorization attempts by outcome",
        labels=[*labels, "outcome"],
    )
    # Sum the per-outcome rows into one histogram per (provider, method, currency).
    latency: dict[tuple[str, str, str], list[float]] = {}
    for provider, method, currency, outcome, count, *rest in rows:
        attempts.add_metric([provider, method, currency, outcome], count)
        acc = latency.setdefault((provider, method, currency), [0.0] * (len(rest)))
        for i, value in enumerate(rest):
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
