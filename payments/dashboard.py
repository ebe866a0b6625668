"""payments: the SLI dashboard for finance and operations staff (an admin page).

Owns the page's data and chart geometry: the last 24 hours of authorization success rate and
p95 latency per provider, hour by hour, drawn as server-rendered inline SVG (no JavaScript, no
CDN), plus tables per provider/method/currency, capture/refund/void error rates and the latest
ledger trial-balance runs. Every figure comes from `payments.metrics`, i.e. from PostgreSQL, so
the page agrees across workers and survives restarts. The view lives in payments/admin.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from payments import metrics

WINDOW_S = 24 * 3600
BUCKET_S = 3600
BUCKETS = WINDOW_S // BUCKET_S
TRIAL_BALANCE_RUNS_SHOWN = 5
# Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
MAX_PROVIDERS_CHARTED = len(PALETTE)

# Chart geometry in SVG user units.
CHART_WIDTH = 760
CHART_HEIGHT = 280
PLOT_LEFT = 64
PLOT_RIGHT = CHART_WIDTH - 16
PLOT_TOP = 16
PLOT_BOTTOM = CHART_HEIGHT - 40
Y_TICKS = 5
X_TICK_EVERY_BUCKETS = 3


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    segments: list[str]  # "x,y x,y …" polylines; a gap where an hour had no attempts
    points: list[Point]


@dataclass(frozen=True)
class Chart:
    title: str
    y_label: str
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]

    @property
    def empty(self) -> bool:
        return not any(series.points for series in self.series)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (an axis maximum people can read)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def _x(index: int) -> float:
    return PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * (index + 0.5) / BUCKETS


def _y(value: float, y_max: float) -> float:
    return PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * min(value, y_max) / y_max


def _series(
    name: str,
    color: str,
    values: list[float | None],
    y_max: float,
    label: Callable[[float], str],
    starts: list[datetime],
) -> Series:
    segments: list[str] = []
    points: list[Point] = []
    current: list[str] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        x, y = _x(index), _y(value, y_max)
        current.append(f"{x:.1f},{y:.1f}")
        points.append(Point(x, y, f"{name} {starts[index]:%H:%M}: {label(value)}"))
    if current:
        segments.append(" ".join(current))
    return Series(name=name, color=color, segments=segments, points=points)


def build_chart(
    *,
    title: str,
    y_label: str,
    starts: list[datetime],
    values_by_provider: dict[str, list[float | None]],
    y_max: float,
    label: Callable[[float], str],
) -> Chart:
    x_ticks = [
        Tick(_x(i), f"{starts[i]:%H:%M}") for i in range(0, len(starts), X_TICK_EVERY_BUCKETS)
    ]
    y_ticks = [
        Tick(_y(y_max * i / Y_TICKS, y_max), label(y_max * i / Y_TICKS)) for i in range(Y_TICKS + 1)
    ]
    series = [
        _series(name, PALETTE[i % len(PALETTE)], values, y_max, label, starts)
        for i, (name, values) in enumerate(sorted(values_by_provider.items()))
    ]
    return Chart(
        title=title,
        y_label=y_label,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        plot_left=PLOT_LEFT,
        plot_right=PLOT_RIGHT,
        plot_top=PLOT_TOP,
        plot_bottom=PLOT_BOTTOM,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=series,
    )


def _window(now: datetime) -> tuple[datetime, list[datetime]]:
    """24 hourly buckets ending with the current (partial) hour."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    since = hour - timedelta(seconds=BUCKET_S * (BUCKETS - 1))
    return since, [since + timedelta(seconds=BUCKET_S * i) for i in range(BUCKETS)]


def hourly_by_provider(
    *, now: datetime
) -> tuple[list[datetime], dict[str, list[metrics.AuthStat | None]]]:
    since, starts = _window(now)
    rows = metrics.auth_stats(
        since=since, until=now + timedelta(seconds=1), bucket_s=BUCKET_S, by=("provider",)
    )
    index_of = {start: i for i, start in enumerate(starts)}
    by_provider: dict[str, list[metrics.AuthStat | None]] = {}
    for row in rows:
        slots = by_provider.setdefault(row.provider, [None] * BUCKETS)
        index = index_of.get(row.bucket_start)
        if index is not None:
            slots[index] = row
    # Bounded legend: the busiest providers are charted, the tables below list them all.
    busiest = sorted(by_provider, key=lambda p: -sum(s.attempts for s in by_provider[p] if s))
    return starts, {name: by_provider[name] for name in busiest[:MAX_PROVIDERS_CHARTED]}


def _percent(value: float) -> str:
    return f"{value:.0f}%"


def _ms(value: float) -> str:
    return f"{value:.0f} ms"


def dashboard_context(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard template shows."""
    now = now or timezone.now()
    starts, hourly = hourly_by_provider(now=now)
    success = {
        name: [s.success_rate * 100 if s and s.success_rate is not None else None for s in slots]
        for name, slots in hourly.items()
    }
    p95 = {name: [s.latency_ms_p95 if s else None for s in slots] for name, slots in hourly.items()}
    p95_max = max((v for values in p95.values() for v in values if v is not None), default=0.0)
    since_24h = now - timedelta(seconds=WINDOW_S)
    return {
        "generated_at": now,
        "window_hours": WINDOW_S // 3600,
        "success_chart": build_chart(
            title="Authorization success rate per provider (hourly)",
            y_label="success rate",
            starts=starts,
            values_by_provider=success,
            y_max=100.0,
            label=_percent,
        ),
        "latency_chart": build_chart(
            title="Authorization latency p95 per provider (hourly)",
            y_label="p95 latency",
            starts=starts,
            values_by_provider=p95,
            y_max=nice_ceiling(p95_max * 1.1),
            label=_ms,
        ),
        "auth_rows": metrics.auth_stats(since=since_24h, until=now + timedelta(seconds=1)),
        "provider_call_rows": metrics.provider_call_stats(since=since_24h),
        "trial_balances": metrics.trial_balance_results(limit=TRIAL_BALANCE_RUNS_SHOWN),
    }
