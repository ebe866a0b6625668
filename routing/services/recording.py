"""Writing attempts: every provider call is a row, opened before and completed after."""

from __future__ import annotations

from django.utils import timezone

from core import rows
from routing.interface import Outcome, ProviderResult
from routing.models import Attempt

MESSAGE_MAX_CHARS = 500
CALL_FAILURES = frozenset({Outcome.PROVIDER_ERROR, Outcome.TIMEOUT_UNKNOWN})


_COMPLETED_FIELDS = (
    "outcome",
    "call_failed",
    "decline_code",
    "message",
    "provider_reference",
    "fee_minor",
    "latency_ms",
    "raw",
    "resolved_at",
)


def complete_attempt(*, attempt: Attempt, result: ProviderResult) -> Attempt:
    """Store what the provider said (one UPDATE of the answer's columns). An unknown outcome
    stays unresolved (no resolved_at)."""
    attempt.outcome = result.outcome.value
    # Sticky: a timeout resolved later by a status inquiry still was a failed call.
    attempt.call_failed = attempt.call_failed or result.outcome in CALL_FAILURES
    attempt.decline_code = result.decline_code[:60]
    attempt.message = result.message[:MESSAGE_MAX_CHARS]
    attempt.provider_reference = result.provider_reference or attempt.provider_reference
    attempt.fee_minor = result.fee_minor
    attempt.latency_ms = max(int(result.latency_ms), 0)
    attempt.raw = result.raw
    if result.outcome != Outcome.TIMEOUT_UNKNOWN:
        attempt.resolved_at = timezone.now()
    values = {name: getattr(attempt, name) for name in _COMPLETED_FIELDS}
    rows.run(rows.Update(Attempt, values, "id = %s", (attempt.id,)))
    return attempt
