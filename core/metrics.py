"""Prometheus metrics: request counts and latency histograms per route and status.

With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (make run does) so /metrics sums all
processes; otherwise each process reports its own. Apps register further collectors (SLIs
computed from stored data) with `register_collector`.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import REGISTRY, Collector

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

http_requests_total = Counter(
    "qr_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
http_request_duration_seconds = Histogram(
    "qr_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=LATENCY_BUCKETS_S,
)

_collectors: list[Collector] = []


def observe_request(*, method: str, route: str, status: int, duration_s: float) -> None:
    http_requests_total.labels(method, route, str(status)).inc()
    http_request_duration_seconds.labels(method, route).observe(duration_s)


def register_collector(collector: Collector) -> None:
    """Add a collector that computes its samples at scrape time (e.g. from the database)."""
    _collectors.append(collector)


def render() -> tuple[bytes, str]:
    """The exposition text for a scrape."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry)
    if _collectors:
        extra = CollectorRegistry()
        for collector in _collectors:
            extra.register(collector)
        output += generate_latest(extra)
    return output, CONTENT_TYPE_LATEST
