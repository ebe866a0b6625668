"""Velocity features in both stores (real Redis and PostgreSQL), and Redis failing over to
PostgreSQL without ever failing a payment."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from fraud import services
from fraud.models import Assessment
from tests.fraud.conftest import make_request

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["postgres", "redis"])
def store(request):
    if request.param == "redis":
        request.getfixturevalue("redis_store")
    return request.param


def features_of(payment_id: str) -> dict:
    return Assessment.objects.get(payment_id=payment_id).features


def test_counts_and_sums_per_card_over_three_windows(store):
    now = timezone.now()
    card = f"fp_velocity_{store}"
    times = [now - timedelta(hours=30), now - timedelta(hours=5), now - timedelta(minutes=30)]
    for at in times + [now - timedelta(seconds=20)]:
        services.assess(request=make_request(card_fingerprint=card, amount_minor=1000), at=at)
    last = make_request(card_fingerprint=card, amount_minor=3000)
    services.assess(request=last, at=now)
    features = features_of(last.payment_id)
    velocity = features["velocity"]
    # This attempt counts: 2 in the last minute, 3 in the hour, 4 in 24 h (30 h ago is out).
    assert (velocity["card_1m"], velocity["card_1h"], velocity["card_24h"]) == (2, 3, 4)
    assert velocity["card_sum_1m"] == 4000
    assert velocity["card_sum_24h"] == 6000
    assert features["card_first_seen_s"] == 30 * 3600
    assert Assessment.objects.get(payment_id=last.payment_id).velocity_source == store


def test_distinct_cards_per_ip_and_per_email(store):
    now = timezone.now()
    for number in range(4):
        services.assess(
            request=make_request(
                card_fingerprint=f"fp_{store}_{number}", ip="198.51.100.9", email="x@example.com"
            ),
            at=now - timedelta(minutes=10 - number),
        )
    # The same card again does not add a distinct card.
    last = make_request(card_fingerprint=f"fp_{store}_0", ip="198.51.100.9", email="x@example.com")
    services.assess(request=last, at=now)
    velocity = features_of(last.payment_id)["velocity"]
    assert velocity["ip_cards_24h"] == 4
    assert velocity["ip_cards_1h"] == 4
    assert velocity["email_cards_24h"] == 4
    assert velocity["ip_1h"] == 5


def test_declines_in_the_last_hour_come_from_recorded_outcomes(
    store, django_capture_on_commit_callbacks
):
    now = timezone.now()
    card = f"fp_declined_{store}"
    for minutes_ago in (90, 40, 20, 5):
        request = make_request(card_fingerprint=card)
        services.assess(request=request, at=now - timedelta(minutes=minutes_ago))
        # A decline reaches Redis when the booking that records it commits.
        with django_capture_on_commit_callbacks(execute=True):
            services.record_outcome(
                payment_id=request.payment_id,
                approved=False,
                decline_code="insufficient_funds",
                at=now - timedelta(minutes=minutes_ago),
            )
    last = make_request(card_fingerprint=card)
    result = services.assess(request=last, at=now)
    assert features_of(last.payment_id)["declines_1h"] == 3  # the one 90 minutes ago is out
    assert "repeated_declines" in result.rules
    assert result.decision == "block"


def test_card_testing_burst_blocks_the_third_try_within_a_minute(store):
    now = timezone.now()
    card = f"fp_burst_{store}"
    decisions = [
        services.assess(
            request=make_request(card_fingerprint=card, amount_minor=100),
            at=now + timedelta(seconds=second),
        ).decision
        for second in (0, 10, 20)
    ]
    assert decisions[:2] == ["allow", "allow"]
    assert decisions[2] == "block"


def test_many_cards_from_one_ip_at_small_amounts_are_blocked(store):
    now = timezone.now()
    results = [
        services.assess(
            request=make_request(
                card_fingerprint=f"fp_ct_{store}_{n}", ip="198.51.100.20", amount_minor=100
            ),
            at=now + timedelta(seconds=n),
        )
        for n in range(5)
    ]
    assert results[0].decision == "allow"
    assert results[3].decision == "block"
    assert "card_testing_burst" in results[3].rules


def test_unreachable_redis_degrades_to_postgres_and_never_blocks_payments(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    card = "fp_degraded"
    services.assess(request=make_request(card_fingerprint=card))
    with caplog.at_level(logging.WARNING, logger="qr.fraud"):
        request = make_request(card_fingerprint=card)
        result = services.assess(request=request)
    assert result.decision == "allow"
    stored = Assessment.objects.get(payment_id=request.payment_id)
    assert stored.velocity_source == "postgres"
    assert stored.features["velocity"]["card_1m"] == 2  # PostgreSQL still saw the first one
    services.record_outcome(payment_id=request.payment_id, approved=False, decline_code="x")


def test_redis_failure_is_logged_once_then_skipped_for_a_while(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with caplog.at_level(logging.WARNING, logger="qr.fraud"):
        for _ in range(3):
            services.assess(request=make_request())
    warnings = [r for r in caplog.records if "Redis velocity store unavailable" in r.message]
    assert len(warnings) == 1


def test_both_stores_compute_the_same_features_for_the_same_traffic(settings, redis_store):
    from fraud import synthetic
    from fraud.models import ReviewItem

    attempts = synthetic.generate(
        seed=3, start=datetime(2026, 1, 5, 9, tzinfo=UTC), duration_s=1800, shoppers=15,
        card_testing_bursts=1, stolen_cards=2, geo_mismatches=1, account_takeovers=2,
    )  # fmt: skip
    settings.REDIS_URL = ""
    by_store = {"postgres": synthetic.replay(attempts)}
    ReviewItem.objects.all().delete()
    Assessment.objects.all().delete()
    settings.REDIS_URL = "redis://127.0.0.1:6379/9"
    by_store["redis"] = synthetic.replay(attempts)
    assert [r.decision for r in by_store["postgres"]] == [r.decision for r in by_store["redis"]]
    stored = Assessment.objects.order_by("created", "payment_id")
    assert {a.velocity_source for a in stored} == {"redis"}


def test_counts_saturate_at_the_cap_so_a_busy_ip_costs_no_more(store, request):
    from fraud.velocity import VELOCITY_COUNT_CAP, _events_key

    now = timezone.now()
    ip = "198.51.100.77"
    earlier = [now - timedelta(seconds=10 + n) for n in range(VELOCITY_COUNT_CAP + 200)]
    if store == "postgres":
        Assessment.objects.bulk_create(
            Assessment(
                payment_id=f"pay_busy{n}",
                merchant_id="mer_acme",
                amount_minor=100,
                currency="EUR",
                amount_ref_minor=100,
                ip=ip,
                score=0,
                decision="allow",
                latency_ms=1.0,
                created=at,
            )
            for n, at in enumerate(earlier)
        )
    else:
        redis_store = request.getfixturevalue("redis_store")
        redis_store.zadd(
            _events_key("ip", ip),
            {f"fa_busy{n}:100": at.timestamp() for n, at in enumerate(earlier)},
        )
    attempt = make_request(ip=ip, amount_minor=100)
    services.assess(request=attempt, at=now)
    velocity = features_of(attempt.payment_id)["velocity"]
    assert velocity["ip_24h"] == VELOCITY_COUNT_CAP
    assert velocity["ip_sum_24h"] == 100 * VELOCITY_COUNT_CAP
