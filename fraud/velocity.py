"""fraud: velocity features — counts and sums per card fingerprint, email, IP, merchant and API
key over 1 minute / 1 hour / 24 hours, distinct cards per IP and per email, declines in the last
hour (per card, IP, email, merchant and API key) and when the card was first seen.

Two stores answer the same question:
- Redis (when `settings.REDIS_URL` is set): sorted sets scored by time, one Lua script (one
  EVALSHA) that records this attempt and computes the windows in Redis;
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
from redis.commands.core import Script

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
DIMENSIONS = ("card", "email", "ip", "merchant", "key")
# Counted without amounts (too many events to sum per payment): the merchant and its API keys.
COUNT_ONLY = ("merchant", "key")


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
    # The API key that made the payment ("" for a hosted page or the back office): card testing
    # through a merchant's server arrives without a customer IP, but always with its key.
    api_key: str = ""
    # A merchant's test payments (its CI paying decline cards) never count for its live ones.
    livemode: bool = False


@dataclass(frozen=True)
class Velocity:
    features: dict[str, int]
    declines_1h: int
    card_first_seen_s: int
    source: str  # "redis" or "postgres"


def empty_features() -> dict[str, int]:
    """Every feature at 0, in the order the Redis script answers them."""
    features: dict[str, int] = {}
    for dim in ("card", "email", "ip", "merchant"):
        for window in ("1m", "1h", "24h"):
            features[f"{dim}_{window}"] = 0
            # A merchant has counts only: summing its whole day per payment costs too much.
            if dim not in COUNT_ONLY:
                features[f"{dim}_sum_{window}"] = 0
    for dim in ("ip", "email"):
        features[f"{dim}_cards_1h"] = 0
        features[f"{dim}_cards_24h"] = 0
    features["ip_declines_1h"] = 0
    features["email_declines_1h"] = 0
    # The API key (counts only) and the merchant's and key's declines: the decline-ratio rules.
    for window in ("1m", "1h", "24h"):
        features[f"key_{window}"] = 0
    features["merchant_declines_1h"] = 0
    features["key_declines_1h"] = 0
    return features


# --- PostgreSQL -------------------------------------------------------------------------------

_TABLE = Assessment._meta.db_table
_DIM_COLUMN = {
    "card": "card_fingerprint",
    "email": "email",
    "ip": "ip",
    "merchant": "merchant_id",
    "key": "api_key_id",
}


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
    # A merchant counts per mode (an API key has one mode).
    mode = " AND livemode = %(livemode)s" if dim == "merchant" else ""
    # A merchant and an API key have counts and declines only (no sums, no distinct cards).
    columns = (
        "created, approved, outcome_at"
        if dim in COUNT_ONLY
        else "created, amount_ref_minor, card_fingerprint, approved, outcome_at"
    )
    aggregates = (
        "0, 0, 0, 0, 0, count(*) FILTER (WHERE approved = false AND outcome_at >= %(t1h)s)"
        if dim in COUNT_ONLY
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
      WHERE {column} = %({dim})s{mode} AND created >= %(t24h)s AND created <= %(now)s
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
        "key": attempt.api_key,
        "livemode": attempt.livemode,
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
        if dim in COUNT_ONLY:
            features[f"{dim}_declines_1h"] = declined
        else:
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
# The velocity script registered with each client (see _observe_script).
_scripts: dict[redis.Redis, Script] = {}
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
        _scripts.clear()
        _redis_down_until = 0.0


def _events_key(dim: str, value: str) -> str:
    return f"{_prefix()}e:{dim}:{value}"


def _cards_key(dim: str, value: str) -> str:
    return f"{_prefix()}c:{dim}:{value}"


def _declines_key(dim: str, value: str) -> str:
    return f"{_prefix()}d:{dim}:{value}"


def _merchant_in_mode(merchant_id: str, livemode: bool) -> str:
    """The merchant's velocity subject: its test and live payments are counted apart."""
    if not merchant_id:
        return ""
    return f"{merchant_id}:{'live' if livemode else 'test'}"


def _first_seen_key(card: str) -> str:
    return f"{_prefix()}f:{card}"


# Records one attempt and computes its features in Redis: one EVALSHA instead of a pipeline of
# ~10–25 commands, whose packing and reply parsing cost more Python CPU than Redis spent on them.
# It writes what that pipeline wrote (same members, scores, trim, TTLs, first-seen SET NX) and
# answers the same numbers. Floats arrive as redis-py writes them (repr: the exact double), so
# Redis and Lua's tonumber read the numbers Python computed; the trim below 24 h is exclusive,
# every window inclusive at both ends. An error inside (e.g. a key of the wrong type) is a
# ResponseError, a RedisError: PostgreSQL answers, as before.
# KEYS, in order: the events key of each present dimension (card, email, ip, merchant, API key);
# when there is a card, its cards key for the IP, then the email (those present); the declines
# key of the card, the IP, the email, the merchant, the API key (those present); when there is a
# card, its first-seen key.
# ARGV: member, now, now − 1 m, now − 1 h, now − 24 h, VELOCITY_COUNT_CAP, KEY_TTL_S, first-seen
# TTL, which of card / email / ip / merchant / key are present ("1" or "0" each), card.
# Reply (integers): the features in empty_features() order, the card's declines in the last hour,
# the seconds since the card was first seen. Sums are exact up to 2**53 (Lua numbers are doubles).
_OBSERVE_LUA = """
local member, now, t1m, t1h, t24h = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cap, ttl, first_ttl, present, card = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local trim, max_count = '(' .. t24h, tonumber(cap)
local out = {}
for i = 1, 34 do out[i] = 0 end
local k = 0
local function record(value)
  k = k + 1
  local key = KEYS[k]
  redis.call('ZADD', key, now, value)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', trim)
  redis.call('EXPIRE', key, ttl)
  return key
end
local function has(dim) return string.sub(present, dim, dim) == '1' end
-- card, email, ip: newest first, at most the cap (the events PostgreSQL aggregates); out[6d-5..6d]
-- are count and sum over 1 m, 1 h, 24 h. The windows all end now, so the 1 h (1 m) events of that
-- list are its first min(ZCOUNT over 1 h, cap): no score needs reading back.
for dim = 1, 3 do
  if has(dim) then
    local key = record(member)
    local c1m = math.min(redis.call('ZCOUNT', key, t1m, now), max_count)
    local c1h = math.min(redis.call('ZCOUNT', key, t1h, now), max_count)
    local events = redis.call('ZREVRANGEBYSCORE', key, now, t24h, 'LIMIT', 0, cap)
    local s1m, s1h, s24h = 0, 0, 0
    for i = 1, #events do
      s24h = s24h + tonumber(string.match(events[i], ':([^:]*)$'))
      if i == c1m then s1m = s24h end
      if i == c1h then s1h = s24h end
    end
    local base = 6 * (dim - 1)
    out[base + 1], out[base + 2], out[base + 3] = c1m, s1m, c1h
    out[base + 4], out[base + 5], out[base + 6] = s1h, #events, s24h
  end
end
-- merchant: too many events to read back, counted in Redis.
if has(4) then
  local key = record(member)
  out[19] = math.min(redis.call('ZCOUNT', key, t1m, now), max_count)
  out[20] = math.min(redis.call('ZCOUNT', key, t1h, now), max_count)
  out[21] = math.min(redis.call('ZCOUNT', key, t24h, now), max_count)
end
-- API key: counted like the merchant (out[28..30]).
if has(5) then
  local key = record(member)
  out[28] = math.min(redis.call('ZCOUNT', key, t1m, now), max_count)
  out[29] = math.min(redis.call('ZCOUNT', key, t1h, now), max_count)
  out[30] = math.min(redis.call('ZCOUNT', key, t24h, now), max_count)
end
-- distinct cards per ip (out[22], out[23]) and per email (out[24], out[25]), counted in Redis.
if has(1) then
  for _, at in ipairs({{3, 22}, {2, 24}}) do
    if has(at[1]) then
      local key = record(card)
      out[at[2]] = math.min(redis.call('ZCOUNT', key, t1h, now), max_count)
      out[at[2] + 1] = math.min(redis.call('ZCOUNT', key, t24h, now), max_count)
    end
  end
end
-- declines in the last hour: card (out[33]), ip (out[26]), email (out[27]), merchant (out[31]),
-- API key (out[32]).
for _, at in ipairs({{1, 33}, {3, 26}, {2, 27}, {4, 31}, {5, 32}}) do
  if has(at[1]) then
    k = k + 1
    out[at[2]] = redis.call('ZCOUNT', KEYS[k], t1h, now)
  end
end
if has(1) then
  k = k + 1
  redis.call('SET', KEYS[k], now, 'NX', 'EX', first_ttl)
  local first = redis.call('GET', KEYS[k])
  if first and first ~= '' then
    local since = tonumber(now) - tonumber(first)
    if since > 0 then out[34] = math.floor(since) end
  end
end
return out
"""
_FEATURE_NAMES = tuple(empty_features())


def _observe_script(client: redis.Redis) -> Script:
    """`_OBSERVE_LUA` registered with this client (once; EVALSHA, loaded again on NOSCRIPT)."""
    script = _scripts.get(client)
    if script is None:
        with _state_lock:
            script = _scripts.setdefault(client, client.register_script(_OBSERVE_LUA))
    return script


def _redis(client: redis.Redis, attempt: Attempt) -> Velocity:
    now_s = attempt.at.timestamp()
    card, email, ip = attempt.card, attempt.email, attempt.ip
    merchant, api_key = _merchant_in_mode(attempt.merchant_id, attempt.livemode), attempt.api_key
    dims = (("card", card), ("email", email), ("ip", ip), ("merchant", merchant), ("key", api_key))
    keys = [_events_key(dim, value) for dim, value in dims if value]
    if card:
        keys += [_cards_key(dim, value) for dim, value in (("ip", ip), ("email", email)) if value]
    keys += [
        _declines_key(dim, value)
        for dim, value in (
            ("card", card),
            ("ip", ip),
            ("email", email),
            ("merchant", merchant),
            ("key", api_key),
        )
        if value
    ]
    if card:
        keys.append(_first_seen_key(card))
    present = "".join("1" if value else "0" for _, value in dims)
    reply = _observe_script(client)(
        keys=keys,
        args=(
            f"{attempt.assessment_id}:{attempt.amount_ref_minor or 0}",
            now_s,
            now_s - WINDOW_1M_S,
            now_s - WINDOW_1H_S,
            now_s - WINDOW_24H_S,
            VELOCITY_COUNT_CAP,
            KEY_TTL_S,
            KEY_TTL_S * 30,
            present,
            card,
        ),
    )
    *counts, declines, first_seen_s = reply
    return Velocity(dict(zip(_FEATURE_NAMES, counts, strict=True)), declines, first_seen_s, "redis")


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


def record_decline(
    *,
    card: str,
    email: str,
    ip: str,
    payment_id: str,
    at: datetime,
    merchant_id: str = "",
    api_key: str = "",
    livemode: bool = False,
) -> None:
    """Count a declined attempt in Redis; PostgreSQL reads declines from the assessments."""
    client = _client()
    if client is None:
        return
    now_s = at.timestamp()
    merchant = _merchant_in_mode(merchant_id, livemode)
    dims = (("card", card), ("email", email), ("ip", ip), ("merchant", merchant))
    try:
        pipe = client.pipeline(transaction=False)
        for dim, value in (*dims, ("key", api_key)):
            if value:
                key = _declines_key(dim, value)
                pipe.zadd(key, {payment_id: now_s})
                pipe.zremrangebyscore(key, "-inf", f"({now_s - WINDOW_1H_S}")
                pipe.expire(key, WINDOW_1H_S + 60)
        pipe.execute()
    except redis.RedisError as error:
        _mark_down(error)
