"""fraud: Prometheus metrics (served by /metrics through the default registry): decisions,
assessment latency, rules disabled at run time (alert on any increase), velocity fallbacks,
payments blocked by a decline-ratio spike (alert on any increase: card testing in progress)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ASSESSMENT_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)

decisions_total = Counter("qr_fraud_decisions_total", "Fraud decisions", ["decision"])
assessment_seconds = Histogram(
    "qr_fraud_assessment_seconds",
    "Time to reach a fraud decision (features, rules, score)",
    buckets=ASSESSMENT_BUCKETS_S,
)
rules_disabled_total = Counter(
    "qr_fraud_rules_disabled_total", "Rules disabled after failing at run time"
)
velocity_fallbacks_total = Counter(
    "qr_fraud_velocity_fallbacks_total", "Redis velocity errors answered by PostgreSQL"
)
spike_blocks_total = Counter(
    "qr_fraud_spike_blocks_total",
    "Payments blocked by a decline-ratio spike rule (card testing)",
    ["rule"],
)
