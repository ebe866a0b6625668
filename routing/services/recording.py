"""Writing attempts: every provider call is a row, opened before and completed after."""

from __future__ import annotations

from django.utils import timezone

from routing.interface import Outcome, ProviderResult
from routing.models import Attempt

MESSAGE_MAX_CHARS = 500


def complete_attempt(*, attempt: Attempt, result: ProviderResult) -> Attempt:
    """Store what the provider said. An unknown outcome stays unresolved (no resolved_at)."""
    attempt.outcome = result.outcome.value
    attempt.decline_code = result.decline_code[:60]
    attempt.message = result.message[:MESSAGE_MAX_CHARS]
    attempt.provider_reference = result.provider_reference or attempt.provider_reference
    attempt.fee_minor = result.fee_minor
    attempt.latency_ms = max(int(result.latency_ms), 0)
    attempt.raw = result.raw
    if result.outcome != Outcome.TIMEOUT_UNKNOWN:
        attempt.resolved_at = timezone.now()
    attempt.save(
        update_fields=[
            "outcome",
            "decline_code",
            "message",
            "provider_reference",
            "fee_minor",
            "latency_ms",
            "raw",
            "resolved_at",
        ]
    )
    return attempt
