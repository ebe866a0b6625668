"""routing's reads: attempts and routing decisions of a payment, whether an authorization was a
captured sale, provider SLIs, breaker state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection

from routing import breaker
from routing.models import Attempt, AttemptKind, Decision
from routing.providers import provider_configs

MAX_ATTEMPTS_LISTED = 100
MAX_STATS_ROWS = 10_000


@dataclass(frozen=True)
class AttemptRow:
    id: str
    kind: str
    parent_id: str
    payment_id: str
    provider: str
    method: str
    brand: str
    currency: str
    amount_minor: int
    outcome: str
    decline_code: str
    message: str
    provider_reference: str
    fee_minor: int | None
    latency_ms: int | None
    created: dt.datetime
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class DecisionRow:
    id: str
    payment_id: str
    strategies: tuple[str, ...]
    candidates: list[dict[str, Any]]
    order: tuple[str, ...]
    chosen: str
    reason: str
    created: dt.datetime


@dataclass(frozen=True)
class AuthStat:
    bucket_start: dt.datetime
    provider: str
    method: str
    currency: str
    count: int
    approved: int
    latency_ms_p95: float | None

    @property
    def approval_rate(self) -> float:
        return self.approved / self.count if self.count else 0.0


def _row(a: Attempt) -> AttemptRow:
    return AttemptRow(
        id=a.id,
        kind=a.kind,
        parent_id=a.parent_id or "",
        payment_id=a.payment_id,
        provider=a.provider,
        method=a.method,
        brand=a.brand,
        currency=a.currency,
        amount_minor=a.amount_minor,
        outcome=a.outcome,
        decline_code=a.decline_code,
        message=a.message,
        provider_reference=a.provider_reference,
        fee_minor=a.fee_minor,
        latency_ms=a.latency_ms,
        created=a.created,
        resolved_at=a.resolved_at,
    )


def attempts_for_payment(*, payment_id: str, kind: str = "") -> list[AttemptRow]:
    """Every provider call made for a payment, oldest first (optionally one kind only)."""
    queryset = Attempt.objects.filter(payment_id=payment_id).order_by("created")
    if kind:
        queryset = queryset.filter(kind=kind)
    return [_row(a) for a in queryset[:MAX_ATTEMPTS_LISTED]]


def attempt(*, attempt_id: str) -> AttemptRow | None:
    found = Attempt.objects.filter(pk=attempt_id).first()
    return _row(found) if found else None


def sent_as_sale(*, attempt_id: str) -> bool:
    """Was this authorization sent as a sale (`capture=True`)? A caller that knows the provider
    approved it then knows the money is captured, whether or not the attempt row has been
    completed yet (a webhook may arrive before the row says approved)."""
    return Attempt.objects.filter(
        pk=attempt_id, kind=AttemptKind.AUTHORIZE, capture_requested=True
    ).exists()


def decision_for_payment(*, payment_id: str) -> DecisionRow | None:
    """The latest routing decision for a payment (a re-authorization makes a new one)."""
    d = Decision.objects.filter(payment_id=payment_id).order_by("-created").first()
    if d is None:
        return None
    return DecisionRow(
        id=d.id,
        payment_id=d.payment_id,
        strategies=tuple(d.strategies),
        candidates=d.candidates,
        order=tuple(d.order),
        chosen=d.chosen,
        reason=d.reason,
        created=d.created,
    )


# The table name and row bound are constants of ours; values go in as parameters.
_AUTH_STATS_SQL = f"""
SELECT to_timestamp(floor(extract(epoch FROM created) / %(bucket_s)s) * %(bucket_s)s) AS bucket,
       provider, method, currency,
       count(*) AS n,
       count(*) FILTER (WHERE outcome = 'approved') AS approved,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
FROM {Attempt._meta.db_table}
WHERE kind = 'authorize' AND created >= %(since)s AND outcome <> 'pending'
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
LIMIT {MAX_STATS_ROWS}
"""  # noqa: S608


def auth_stats(*, since: dt.datetime, bucket_s: int = 300) -> list[AuthStat]:
    """Authorization SLIs per time bucket × provider × method × currency: count, approvals and
    the 95th percentile latency, computed in PostgreSQL from the stored attempts."""
    if bucket_s <= 0:
        raise ValueError("bucket_s must be positive")
    with connection.cursor() as cursor:
        cursor.execute(_AUTH_STATS_SQL, {"since": since, "bucket_s": bucket_s})
        rows = cursor.fetchall()
    return [
        AuthStat(
            bucket_start=bucket,
            provider=provider,
            method=method,
            currency=currency,
            count=n,
            approved=approved,
            latency_ms_p95=float(p95) if p95 is not None else None,
        )
        for bucket, provider, method, currency, n, approved, p95 in rows
    ]


@dataclass(frozen=True)
class ProviderHealth:
    provider: str
    enabled: bool
    breaker_state: str
    consecutive_failures: int


def provider_health() -> list[ProviderHealth]:
    result = []
    for config in provider_configs().values():
        view = breaker.view(provider=config.name)
        result.append(
            ProviderHealth(
                provider=config.name,
                enabled=config.enabled,
                breaker_state=view.state,
                consecutive_failures=view.consecutive_failures,
            )
        )
    return result
