"""fraud: velocity features — counts and sums per card fingerprint, email, IP and merchant over
1 minute / 1 hour / 24 hours, distinct cards per IP and per email, declines in the last hour and
when the card was first seen.

Two stores answer the same question:
- Redis (when `settings.REDIS_URL` is set): sorted sets scored by time, one pipelined round trip
  that records this attempt and reads the windows back;
- PostgreSQL: aggregates over the stored assessments (always written, so always complete).

Every count includes the attempt being assessed. A Redis error is logged as a warning, Redis is
skipped for `REDIS_RETRY_AFTER_S`, and PostgreSQL answers: an unavailable store never blocks a
payment. While Redis was down its sets miss those attempts; they are short windows, so it heals
within 24 hours (documented in docs/fraud.md).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import connection

from fraud.metrics import velocity_fallbacks_total
from fraud.models import Assessment
from fraud.sql import Query

logger = logging.getLogger("qr.fraud")

WINDOW_1M_S = 60
WINDOW_1H_S = 3600
WINDOW_24H_S = 86400
# Keys live a little longer than the longest window.
KEY_TTL_S = WINDOW_24H_S + 3600
# How long Redis is left alone after an error before it is tried again.
REDIS_RETRY_AFTER_S = 30.0
REDIS_TIMEOUT_S = 0.05
# Counts saturate here in both stores: the events read back per key are bounded (a card, IP or
# merchant with more attempts in 24 h is past every rule's threshold anyway).
VELOCITY_COUNT_CAP = 1000
DIMENSIONS = ("card", "email", "ip", "merchant")


@dataclass(frozen=True)
class Attempt:
    """What the velocity stores need to know about one payment attempt."""

    assessment_id: str
    merchant_id: str
    card: str
    email: str
    ip: str
    # None when the currency has no FX rate: it counts as an attempt, adds nothing to sums.
    amount_ref_minor: int | None
    at: datetime


@dataclass(frozen=True)
class Velocity:
    features: dict[str, int]
    declines_1h: int
    card_first_seen_s: int
    source: str  # "redis" or "postgres"


def empty_features() -> dict[str, int]:
    features: dict[str, int] = {}
    for dim in DIMENSIONS:
        for window in ("1m", "1h", "24h"):
            features[f"{dim}_{window}"] = 0
            # A merchant has counts only: summing its whole day per payment costs too much.
            if dim != "merchant":
                features[f"{dim}_sum_{window}"] = 0
    for dim in ("ip", "email"):
        features[f"{dim}_cards_1h"] = 0
        features[f"{dim}_cards_24h"] = 0
    features["ip_declines_1h"] = 0
    features["email_declines_1h"] = 0
    return features


# --- PostgreSQL -------------------------------------------------------------------------------

_TABLE = Assessment._meta.db_table
_DIM_COLUMN = {"card": "card_fingerprint", "email": "email", "ip": "ip", "merchant": "merchant_id"}


def _pg_dimension_sql(dim: str) -> str:
    """One row of window aggregates over the newest VELOCITY_COUNT_CAP − 1 earlier attempts of
    this card / email / IP / merchant in the last 24 h: the LIMIT bounds the work for a busy
    merchant or a card-testing IP (counts saturate at the cap instead of growing the query)."""
    # Only constant identifiers are interpolated; every value is a parameter.
    column = _DIM_COLUMN[dim]
    first_seen = (
        f"(SELECT min(created) FROM {_TABLE} WHERE card_fingerprint = %(card)s)"  # noqa: S608
        if dim == "card"
        else "NULL::timestamptz"
    )
    # A merchant has counts only, so its rows come from the (merchant_id, created) index alone.
    columns = (
        "created"
        if dim == "merchant"
        else "created, amount_ref_minor, card_fingerprint, approved, outcome_at"
    )
    aggregates = (
        "0, 0, 0, 0, 0, 0"
        if dim == "merchant"
        else """coalesce(sum(amount_ref_minor) FILTER (WHERE created >= %(t1m)s), 0),
  coalesce(sum(amount_ref_minor) FILTER (WHERE created >= %(t1h)s), 0),
  coalesce(sum(amount_ref_minor), 0),
  count(DISTINCT card_fingerprint) FILTER (
    WHERE created >= %(t1h)s AND card_fingerprint <> '' AND card_fingerprint <> %(card)s),
  count(DISTINCT card_fingerprint) FILTER (
    WHERE card_fingerprint <> '' AND card_fingerprint <> %(card)s),
  count(*) FILTER (WHERE approved = false AND outcome_at >= %(t1h)s)"""
    )
    return f"""
(SELECT '{dim}',
  count(*) FILTER (WHERE created >= %(t1m)s),
  count(*) FILTER (WHERE created >= %(t1h)s),
  count(*),
  {aggregates},
  {first_seen}
FROM (SELECT {columns} FROM {_TABLE}
      WHERE {column} = %({dim})s AND created >= %(t24h)s AND created <= %(now)s
      ORDER BY created DESC LIMIT %(earlier_cap)s) AS recent)
"""  # noqa: S608


def postgres_query(attempt: Attempt) -> Query | None:
    """The one statement that answers every window from the stored assessments (None when the
    attempt has no card, email, IP or merchant to count)."""
    now = attempt.at
    params = {
        "now": now,
        "t1m": now - timedelta(seconds=WINDOW_1M_S),
        "t1h": now - timedelta(seconds=WINDOW_1H_S),
        "t24h": now - timedelta(seconds=WINDOW_24H_S),
        "card": attempt.card,
        "email": attempt.email,
        "ip": attempt.ip,
        "merchant": attempt.merchant_id,
        "earlier_cap": VELOCITY_COUNT_CAP - 1,
    }
    present = [dim for dim in DIMENSIONS if params[dim]]
    if not present:
        return None
    return Query(" UNION ALL ".join(_pg_dimension_sql(dim) for dim in present), params)


def postgres_velocity(attempt: Attempt, rows: list[tuple]) -> Velocity:
    """The features from `postgres_query`'s rows (the stored, earlier attempts) plus this one."""
    now = attempt.at
    first_seen: datetime | None = None
    features = empty_features()
    declines = 0
    this_card = 1 if attempt.card else 0
    amount = attempt.amount_ref_minor or 0
    for dim, c1m, c1h, c24h, s1m, s1h, s24h, cards_1h, cards_24h, declined, first in rows:
        # The stored rows are earlier attempts; add this one.
        features[f"{dim}_1m"] = c1m + 1
        features[f"{dim}_1h"] = c1h + 1
        features[f"{dim}_24h"] = c24h + 1
        if dim != "merchant":
            features[f"{dim}_sum_1m"] = int(s1m) + amount
            features[f"{dim}_sum_1h"] = int(s1h) + amount
            features[f"{dim}_sum_24h"] = int(s24h) + amount
        if dim in ("ip", "email"):
            features[f"{dim}_cards_1h"] = cards_1h + this_card
            features[f"{dim}_cards_24h"] = cards_24h + this_card
            features[f"{dim}_declines_1h"] = declined
        if dim == "card":
            declines = declined
            first_seen = first
    first_seen_s = int((now - first_seen).total_seconds()) if first_seen else 0
    return Velocity(features, declines, max(first_seen_s, 0), "postgres")


def _postgres(attempt: Attempt) -> Velocity:
    query = postgres_query(attempt)
    rows: list[tuple] = []
    if query is not None:
        with connection.cursor() as cursor:
            cursor.execute(query.sql, query.params)
            rows = cursor.fetchall()
    return postgres_velocity(attempt, rows)


# --- Redis ------------------------------------------------------------------------------------

_state_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}
_redis_down_until: float = 0.0


def _prefix() -> str:
    return getattr(settings, "FRAUD_VELOCITY_PREFIX", "fraud:v1:")


def _client() -> redis.Redis | None:
    url = getattr(settings, "REDIS_URL", "")
    if not url or time.monotonic() < _redis_down_until:
        return None
    with _state_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
                health_check_interval=0,
            )
            _clients[url] = client
    return client


def _mark_down(error: Exception) -> None:
    global _redis_down_until
    logger.warning(
        "fraud: Redis velocity store unavailable (%s); using PostgreSQL for %.0f s",
        type(error).__name__,
        REDIS_RETRY_AFTER_S,
    )
    _redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_S


def reset_redis_state() -> None:
    """Forget clients and the down-marker (tests, settings changes)."""
    global _redis_down_until
    with _state_lock:
        _clients.clear()
        _redis_down_until = 0.0


def _events_key(dim: str, value: str) -> str:
    return f"{_prefix()}e:{dim}:{value}"


def _cards_key(dim: str, value: str) -> str:
    return f"{_prefix()}c:{dim}:{value}"


def _declines_key(dim: str, value: str) -> str:
    return f"{_prefix()}d:{dim}:{value}"


def _first_seen_key(card: str) -> str:
    return f"{_prefix()}f:{card}"


def _redis(client: redis.Redis, attempt: Attempt) -> Velocity:
    now_s = attempt.at.timestamp()
    t24h = now_s - WINDOW_24H_S
    values = {
        "card": attempt.card,
        "email": attempt.email,
        "ip": attempt.ip,
        "merchant": attempt.merchant_id,
    }
    present = [dim for dim in DIMENSIONS if values[dim]]
    member = f"{attempt.assessment_id}:{attempt.amount_ref_minor or 0}"
    pipe = client.pipeline(transaction=False)
    for dim in present:
        key = _events_key(dim, values[dim])
        pipe.zadd(key, {member: now_s})
        pipe.zremrangebyscore(key, "-inf", f"({t24h}")
        pipe.expire(key, KEY_TTL_S)
        if dim == "merchant":
            # A merchant has too many events to read back: count the windows in Redis.
            pipe.zcount(key, now_s - WINDOW_1M_S, now_s)
            pipe.zcount(key, now_s - WINDOW_1H_S, now_s)
            pipe.zcount(key, t24h, now_s)
        else:
            # Newest first, at most the cap: the same events PostgreSQL aggregates.
            pipe.zrevrangebyscore(
                key, now_s, t24h, start=0, num=VELOCITY_COUNT_CAP, withscores=True
            )
    for dim in ("ip", "email"):
        if values[dim] and attempt.card:
            key = _cards_key(dim, values[dim])
            pipe.zadd(key, {attempt.card: now_s})
            pipe.zremrangebyscore(key, "-inf", f"({t24h}")
            pipe.expire(key, KEY_TTL_S)
            # Counted in Redis, not read back: a card-testing IP can hold thousands of cards.
            pipe.zcount(key, now_s - WINDOW_1H_S, now_s)
            pipe.zcount(key, t24h, now_s)
    for dim in ("card", "ip", "email"):
        if values[dim]:
            pipe.zcount(_declines_key(dim, values[dim]), now_s - WINDOW_1H_S, now_s)
    if attempt.card:
        pipe.set(_first_seen_key(attempt.card), now_s, nx=True, ex=KEY_TTL_S * 30)
        pipe.get(_first_seen_key(attempt.card))
    results = iter(pipe.execute())

    features = empty_features()
    for dim in present:
        next(results), next(results), next(results)  # zadd, trim, expire
        if dim == "merchant":
            c1m, c1h, c24h = next(results), next(results), next(results)
            cap = VELOCITY_COUNT_CAP
            features.update(
                merchant_1m=min(c1m, cap), merchant_1h=min(c1h, cap), merchant_24h=min(c24h, cap)
            )
            continue
        for member_bytes, score in next(results):
            amount = int(member_bytes.rsplit(b":", 1)[1])
            features[f"{dim}_24h"] += 1
            features[f"{dim}_sum_24h"] += amount
            if score >= now_s - WINDOW_1H_S:
                features[f"{dim}_1h"] += 1
                features[f"{dim}_sum_1h"] += amount
            if score >= now_s - WINDOW_1M_S:
                features[f"{dim}_1m"] += 1
                features[f"{dim}_sum_1m"] += amount
    for dim in ("ip", "email"):
        if values[dim] and attempt.card:
            next(results), next(results), next(results)
            cards_1h, cards_24h = next(results), next(results)
            features[f"{dim}_cards_1h"] = min(cards_1h, VELOCITY_COUNT_CAP)
            features[f"{dim}_cards_24h"] = min(cards_24h, VELOCITY_COUNT_CAP)
    declines = 0
    for dim in ("card", "ip", "email"):
        if values[dim]:
            count = next(results)
            if dim == "card":
                declines = count
            else:
                features[f"{dim}_declines_1h"] = count
    first_seen_s = 0
    if attempt.card:
        next(results)
        first = next(results)
        first_seen_s = max(int(now_s - float(first)), 0) if first else 0
    return Velocity(features, declines, first_seen_s, "redis")


# --- public -----------------------------------------------------------------------------------


def observe_redis(attempt: Attempt) -> Velocity | None:
    """Record this attempt in Redis and read the windows back; None when Redis is not
    configured, resting after an error, or failing now (PostgreSQL must answer then)."""
    client = _client()
    if client is None:
        return None
    try:
        return _redis(client, attempt)
    except redis.RedisError as error:
        velocity_fallbacks_total.inc()
        _mark_down(error)
        return None


def observe(attempt: Attempt) -> Velocity:
    """Record this attempt in the fast store (if any) and return the velocity features."""
    return observe_redis(attempt) or _postgres(attempt)


def record_decline(*, card: str, email: str, ip: str, payment_id: str, at: datetime) -> None:
    """Count a declined attempt in Redis; PostgreSQL reads declines from the assessments."""
    client = _client()
    if client is None:
        return
    now_s = at.timestamp()
    try:
        pipe = client.pipeline(transaction=False)
        for dim, value in (("card", card), ("email", email), ("ip", ip)):
            if value:
                key = _declines_key(dim, value)
                pipe.zadd(key, {payment_id: now_s})
                pipe.zremrangebyscore(key, "-inf", f"({now_s - WINDOW_1H_S}")
                pipe.expire(key, WINDOW_1H_S + 60)
        pipe.execute()
    except redis.RedisError as error:
        _mark_down(error)
