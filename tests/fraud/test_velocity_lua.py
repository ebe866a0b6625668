"""Velocity in Redis is one Lua script: it answers exactly what PostgreSQL answers over a varied
history (windows, sums, the count cap, distinct cards, declines, first sighting), it is one Redis
command per assessment, and an error inside it still hands the payment to PostgreSQL."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.test import TestCase

from fraud import services, velocity
from fraud.models import Assessment, ReviewItem
from tests.fraud.conftest import TEST_REDIS_URL, make_request

pytestmark = pytest.mark.django_db

# Microseconds on purpose: scores are fractional epoch seconds.
END = datetime(2026, 1, 6, 15, 0, 0, 123457, tzinfo=UTC)
BUSY_CARD = "fp_lua_busy"
BUSY_MERCHANT = "mer_lua_busy"
BUSY_EVENTS = velocity.VELOCITY_COUNT_CAP + 100
CARDS_FEATURES = ("ip_cards_1h", "ip_cards_24h", "email_cards_1h", "email_cards_24h")


def _history() -> list[tuple[datetime, object, bool]]:
    """(time, request, declined) in time order: attempts spread over 30 hours, 2 hours and
    2 minutes across a few cards, emails, IPs, merchants, amounts and currencies (XAF has no
    rate), then probes exactly on the window bounds, then probes of the busy card."""
    rng = random.Random(20260106)
    cards = ["fp_lua_a", "fp_lua_b", "fp_lua_c", "fp_lua_d", ""]
    emails = ["ann@example.com", "bob@example.com", "cy@example.com", ""]
    ips = ["198.51.100.1", "198.51.100.2", "203.0.113.7"]
    offsets = [timedelta(seconds=rng.uniform(60, 30 * 3600)) for _ in range(40)]
    offsets += [timedelta(seconds=rng.uniform(60, 2 * 3600)) for _ in range(40)]
    offsets += [timedelta(seconds=rng.uniform(1, 120)) for _ in range(40)]
    # Exactly on each window's lower bound as seen from END (inclusive), and just past 24 h.
    bounds = [
        timedelta(seconds=86400, microseconds=1),
        timedelta(seconds=86400),
        timedelta(seconds=3600),
        timedelta(seconds=60),
    ]
    history = []
    for offset in sorted(offsets, reverse=True):
        request = make_request(
            card_fingerprint=rng.choice(cards),
            email=rng.choice(emails),
            ip=rng.choice(ips),
            merchant_id=rng.choice(["mer_lua_one", "mer_lua_two"]),
            amount_minor=rng.choice([100, 999, 2500, 40_000, 1_234_567]),
            currency=rng.choice(["EUR", "EUR", "USD", "XAF"]),
        )
        history.append((END - offset, request, rng.random() < 0.25))
    bound_kwargs = {
        "card_fingerprint": "fp_lua_a",
        "email": "ann@example.com",
        "ip": "198.51.100.1",
    }
    for offset in bounds:
        history.append((END - offset, make_request(amount_minor=700, **bound_kwargs), True))
    history.append((END, make_request(amount_minor=300, **bound_kwargs), False))
    for seconds in (2, 1, 0):
        busy = make_request(
            card_fingerprint=BUSY_CARD,
            merchant_id=BUSY_MERCHANT,
            email="busy@example.com",
            ip="192.0.2.99",
            amount_minor=100 + seconds,
        )
        history.append((END + timedelta(seconds=1 - seconds), busy, False))
    # In time order, as payments arrive (a replay out of order would see Redis trimmed already).
    return sorted(history, key=lambda entry: entry[0])


def _busy_events() -> list[velocity.Attempt]:
    """More events than the cap for one card and one merchant in the 10 minutes before END (no
    email or IP: distinct cards per IP / email are the history's)."""
    return [
        velocity.Attempt(
            assessment_id=f"fa_luabusy{n}",
            merchant_id=BUSY_MERCHANT,
            card=BUSY_CARD,
            email="",
            ip="",
            amount_ref_minor=None if n % 7 == 0 else 10 + n % 13,
            at=END - timedelta(minutes=10) + timedelta(seconds=n * 0.5),
        )
        for n in range(BUSY_EVENTS)
    ]


def _seed_postgres(events: list[velocity.Attempt]) -> None:
    Assessment.objects.bulk_create(
        Assessment(
            id=event.assessment_id,
            payment_id=f"pay_{event.assessment_id}",
            merchant_id=event.merchant_id,
            amount_minor=event.amount_ref_minor or 5,
            currency="EUR" if event.amount_ref_minor is not None else "XAF",
            amount_ref_minor=event.amount_ref_minor,
            card_fingerprint=event.card,
            score=0,
            decision="allow",
            latency_ms=1.0,
            created=event.at,
        )
        for event in events
    )


def _seed_redis(events: list[velocity.Attempt]) -> None:
    for event in events:
        assert velocity.observe_redis(event) is not None


def _replay(history: list[tuple[datetime, object, bool]]) -> list[tuple]:
    seen = []
    for at, request, declined in history:
        services.assess(request=request, at=at)
        if declined:
            with TestCase.captureOnCommitCallbacks(execute=True):  # a booking that commits
                services.record_outcome(
                    payment_id=request.payment_id,
                    approved=False,
                    decline_code="do_not_honor",
                    at=at,
                )
        stored = Assessment.objects.get(payment_id=request.payment_id)
        features = stored.features
        seen.append(
            (
                stored.velocity_source,
                features["velocity"],
                features["declines_1h"],
                features["card_first_seen_s"],
                features["card_new"],
            )
        )
    return seen


def test_redis_features_equal_postgres_over_a_varied_history(settings, redis_store):
    history = _history()
    busy = _busy_events()
    settings.REDIS_URL = ""
    velocity.reset_redis_state()
    _seed_postgres(busy)
    from_postgres = _replay(history)
    ReviewItem.objects.all().delete()
    Assessment.objects.all().delete()
    settings.REDIS_URL = TEST_REDIS_URL
    velocity.reset_redis_state()
    _seed_redis(busy)
    from_redis = _replay(history)

    assert {seen[0] for seen in from_postgres} == {"postgres"}
    assert {seen[0] for seen in from_redis} == {"redis"}  # no silent fallback
    for at_pg, at_redis, (at, request, _) in zip(from_postgres, from_redis, history, strict=True):
        pg, red = dict(at_pg[1]), dict(at_redis[1])
        if not request.card_fingerprint:
            # Known, and the same with the pipeline the script replaced: without a card, Redis
            # reads no distinct cards (its sets are read only with a card); PostgreSQL counts them.
            for name in CARDS_FEATURES:
                assert red.pop(name) == 0
                pg.pop(name)
        assert (pg, *at_pg[2:]) == (red, *at_redis[2:]), (at, request)

    # The history reaches what it is meant to test.
    cap = velocity.VELOCITY_COUNT_CAP
    last_busy = from_redis[-1][1]
    assert (last_busy["card_24h"], last_busy["card_1h"], last_busy["merchant_24h"]) == (cap,) * 3
    assert 10 < last_busy["card_1m"] < cap
    assert last_busy["card_sum_24h"] < sum(e.amount_ref_minor or 0 for e in busy)
    [on_bounds] = [
        seen[1]
        for seen, (at, request, _) in zip(from_redis, history, strict=True)
        if at == END and request.card_fingerprint == "fp_lua_a"
    ]
    assert on_bounds["card_1m"] >= 2 and on_bounds["card_1h"] > on_bounds["card_1m"]
    assert max(seen[2] for seen in from_redis) >= 2  # declines of a card in the last hour
    assert max(seen[1]["ip_declines_1h"] for seen in from_redis) >= 2
    assert max(seen[1]["ip_cards_24h"] for seen in from_redis) >= 3
    assert max(seen[3] for seen in from_redis) > 24 * 3600
    assert any(seen[1]["email_sum_1m"] != seen[1]["email_sum_24h"] for seen in from_redis)


def test_the_window_bounds_are_inclusive_and_the_trim_exclusive(redis_store):
    # fp_lua_a: END − 24 h − 1 µs, END − 24 h, END − 1 h, END − 1 min among its attempts; END last.
    history = [entry for entry in _history() if entry[1].card_fingerprint == "fp_lua_a"]
    assert history[-1][0] == END
    last = _replay([(at, request, False) for at, request, _ in history])[-1][1]
    in_24h = [at for at, _, _ in history if at >= END - timedelta(days=1)]
    in_1h = [at for at in in_24h if at >= END - timedelta(hours=1)]
    in_1m = [at for at in in_24h if at >= END - timedelta(minutes=1)]
    assert len(in_24h) < len(history)
    assert (last["card_24h"], last["card_1h"], last["card_1m"]) == (
        len(in_24h),
        len(in_1h),
        len(in_1m),
    )


def test_one_assessment_is_one_redis_command(settings, redis_store):
    # The first assessment may load the script (EVALSHA, SCRIPT LOAD, EVALSHA on a fresh server).
    services.assess(request=make_request(card_fingerprint="fp_lua_warm"))
    prefix = settings.FRAUD_VELOCITY_PREFIX
    sentinel = f"{prefix}monitor-done"
    watcher = redis.Redis.from_url(TEST_REDIS_URL, socket_timeout=5)
    with watcher.monitor() as monitor:
        services.assess(request=make_request(card_fingerprint="fp_lua_one", amount_minor=1234))
        redis_store.echo(sentinel)
        seen = []
        while True:
            command = monitor.next_command()
            if sentinel in command["command"]:
                break
            seen.append(command)
    watcher.close()
    # Only this test's keys: other processes may share the server.
    sent = [c for c in seen if c["client_type"] != "lua" and prefix in c["command"]]
    assert [c["command"].split()[0].upper() for c in sent] == ["EVALSHA"]
    # Nothing else from the velocity client's connection either (no keys, e.g. SCRIPT LOAD).
    port = sent[0]["client_port"]
    assert [c for c in seen if c["client_type"] != "lua" and c["client_port"] == port] == sent
    # The work happened inside the script.
    assert len([c for c in seen if c["client_type"] == "lua" and prefix in c["command"]]) >= 10


def test_a_script_unknown_to_the_server_is_loaded_again(redis_store):
    first = make_request(card_fingerprint="fp_lua_noscript")
    services.assess(request=first)
    client = velocity._client()
    script = velocity._observe_script(client)
    script.sha = "0" * 40  # as after SCRIPT FLUSH or a failover: EVALSHA answers NOSCRIPT
    second = make_request(card_fingerprint="fp_lua_noscript")
    services.assess(request=second)
    stored = Assessment.objects.get(payment_id=second.payment_id)
    assert stored.velocity_source == "redis"
    assert stored.features["velocity"]["card_1m"] == 2
    assert script.sha != "0" * 40


def test_an_error_inside_the_script_falls_back_to_postgres(redis_store, caplog):
    from fraud.metrics import velocity_fallbacks_total

    card = "fp_lua_wrongtype"
    services.assess(request=make_request(card_fingerprint=card))
    # A key of the wrong type makes ZADD fail inside the script: a ResponseError.
    redis_store.delete(velocity._events_key("card", card))
    redis_store.set(velocity._events_key("card", card), "not a sorted set")
    before = velocity_fallbacks_total._value.get()
    request = make_request(card_fingerprint=card)
    with caplog.at_level(logging.WARNING, logger="qr.fraud"):
        result = services.assess(request=request)
    assert result.decision == "allow"
    stored = Assessment.objects.get(payment_id=request.payment_id)
    assert stored.velocity_source == "postgres"
    assert stored.features["velocity"]["card_1m"] == 2
    assert velocity_fallbacks_total._value.get() == before + 1
    assert "Redis velocity store unavailable (ResponseError)" in caplog.text


def test_the_reply_fills_every_feature_in_order(redis_store):
    at = datetime(2026, 1, 6, 12, 0, 0, 500000, tzinfo=UTC)
    attempt = velocity.Attempt(
        assessment_id="fa_lua_order",
        merchant_id="mer_lua_order",
        card="fp_lua_order",
        email="order@example.com",
        ip="192.0.2.1",
        amount_ref_minor=4321,
        at=at,
    )
    observed = velocity.observe_redis(attempt)
    assert observed is not None
    assert list(observed.features) == list(velocity.empty_features())
    expected = velocity.empty_features()
    for dim in ("card", "email", "ip", "merchant"):
        for window in ("1m", "1h", "24h"):
            expected[f"{dim}_{window}"] = 1
            if dim != "merchant":
                expected[f"{dim}_sum_{window}"] = 4321
    for dim in ("ip", "email"):
        expected[f"{dim}_cards_1h"] = expected[f"{dim}_cards_24h"] = 1
    assert observed.features == expected
    assert (observed.declines_1h, observed.card_first_seen_s) == (0, 0)
