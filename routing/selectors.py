"""routing's reads: attempts and routing decisions of a payment, whether an authorization was a
captured sale, provider SLIs, breaker state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

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
    """Resolved authorization attempts of one group (and one time bucket when bucketed); a
    dimension not grouped by is ""."""

    bucket_start: dt.datetime | None
    provider: str
    method: str
    currency: str
    count: int
    approved: int
    latency_ms_p95: float | None

    @property
    def approval_rate(self) -> float:
        return self.approved / self.count if self.count else 0.0


@dataclass(frozen=True)
class ProviderCallStat:
    """Resolved capture, refund or void calls of one provider, and how many were not approved."""

    provider: str
    kind: str
    calls: int
    errors: int


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


# Grouping columns a caller may ask for (a whitelist: they are interpolated into SQL).
AUTH_DIMENSIONS = ("provider", "method", "currency")
PROVIDER_CALL_KINDS = ("capture", "refund", "void")
_ATTEMPTS = Attempt._meta.db_table


def auth_stats(
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    bucket_s: int | None = 300,
    by: tuple[str, ...] = AUTH_DIMENSIONS,
) -> list[AuthStat]:
    """Authorization SLIs from the stored attempts resolved in [since, until): count, approvals
    and the 95th percentile latency per group of `by` (any of AUTH_DIMENSIONS) and, with
    `bucket_s`, per bucket of that many seconds aligned to `since`; at most MAX_STATS_ROWS."""
    unknown = set(by) - set(AUTH_DIMENSIONS)
    if unknown:
        raise ValueError(f"cannot group authorization stats by {sorted(unknown)}")
    if bucket_s is not None and bucket_s <= 0:
        raise ValueError("bucket_s must be positive")
    select = list(by)
    params: list[object] = []
    if bucket_s:
        select.append("date_bin(make_interval(secs => %s), created, %s)")
        params += [bucket_s, since]
    if not select:
        raise ValueError("group by at least one dimension or a time bucket")
    group = ", ".join(str(i + 1) for i in range(len(select)))
    sql = (
        f"SELECT {', '.join(select)}, count(*), "  # noqa: S608 (whitelisted names only)
        "count(*) FILTER (WHERE outcome = 'approved'), "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) "
        f"FROM {_ATTEMPTS} "
        "WHERE kind = 'authorize' AND outcome <> 'pending' AND created >= %s AND created < %s "
        f"GROUP BY {group} ORDER BY {group} LIMIT %s"
    )
    params += [since, until or timezone.now(), MAX_STATS_ROWS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    stats = []
    for row in rows:
        labels = dict(zip(by, row, strict=False))
        rest = row[len(by) :]
        count, approved, p95 = rest[-3:]
        stats.append(
            AuthStat(
                bucket_start=rest[0] if bucket_s else None,
                provider=labels.get("provider", ""),
                method=labels.get("method", ""),
                currency=labels.get("currency", ""),
                count=count,
                approved=approved,
                latency_ms_p95=float(p95) if p95 is not None else None,
            )
        )
    return stats


def provider_call_stats(*, since: dt.datetime | None = None) -> list[ProviderCallStat]:
    """Capture, refund and void calls per provider and kind since `since` (all time when None)."""
    where = "kind = ANY(%s) AND outcome <> 'pending'"
    params: list[object] = [list(PROVIDER_CALL_KINDS)]
    if since is not None:
        where += " AND created >= %s"
        params.append(since)
    sql = (
        "SELECT provider, kind, count(*), count(*) FILTER (WHERE outcome <> 'approved') "  # noqa: S608
        f"FROM {_ATTEMPTS} WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2 LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MAX_STATS_ROWS])
        return [ProviderCallStat(*row) for row in cursor.fetchall()]


@dataclass(frozen=True)
class AuthOutcomeCount:
    """All-time resolved authorization attempts of one provider, method, currency and outcome,
    with a latency histogram: how many took at most each bound, how many have a latency."""

    provider: str
    method: str
    currency: str
    outcome: str
    count: int
    at_most_ms: tuple[int, ...]  # one count per bound asked for
    with_latency: int
    latency_ms_sum: int


def auth_outcome_counts(*, latency_bounds_ms: tuple[int, ...]) -> list[AuthOutcomeCount]:
    """Resolved authorization attempts per provider, method, currency and outcome, all time
    (attempts are never deleted, so the counts only grow); at most MAX_STATS_ROWS."""
    bounds = [int(bound) for bound in latency_bounds_ms]
    at_most = ", ".join("count(*) FILTER (WHERE latency_ms <= %s)" for _ in bounds)
    sql = (
        f"SELECT provider, method, currency, outcome, count(*), {at_most}{', ' if bounds else ''}"  # noqa: S608
        "count(latency_ms), coalesce(sum(latency_ms), 0) "
        f"FROM {_ATTEMPTS} WHERE kind = 'authorize' AND outcome <> 'pending' "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*bounds, MAX_STATS_ROWS])
        rows = cursor.fetchall()
    return [
        AuthOutcomeCount(
            provider=provider,
            method=method,
            currency=currency,
            outcome=outcome,
            count=count,
            at_most_ms=tuple(rest[: len(bounds)]),
            with_latency=rest[len(bounds)],
            latency_ms_sum=int(rest[len(bounds) + 1]),
        )
        for provider, method, currency, outcome, count, *rest in rows
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
