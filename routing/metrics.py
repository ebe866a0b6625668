"""routing: Prometheus metrics (served by /metrics through the default registry).

`qr_routing_webhook_events_rejected_total` counts verified provider events refused because they
do not match the attempt they name (another provider, amount or currency): alert on any
increase, each one is also logged as an error naming the event.
"""

from __future__ import annotations

from prometheus_client import Counter

webhook_events_rejected_total = Counter(
    "qr_routing_webhook_events_rejected_total",
    "Verified provider events refused: they do not match the attempt they name",
    ["provider", "reason"],
)
