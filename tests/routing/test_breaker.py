"""Circuit breakers: open on consecutive errors or an error rate, refuse calls while open, let
one probe through when half-open, close on success; state shared across threads/processes
through PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from routing import breaker, services
from routing.interface import Outcome
from routing.models import Attempt, BreakerState
from tests.routing.conftest import card_token, payment_request

PROBE_THREADS = 8


@pytest.fixture
def fast_breaker(monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "3")
    monkeypatch.setenv("ROUTING_BREAKER_OPEN_S", "0.5")


def test_breaker_opens_after_consecutive_errors_and_recovers_after_a_probe(
    merchant, providers, sim, fast_breaker
):
    sim.control("sim-a", error_rate=1.0)
    for _ in range(3):
        outcome = services.authorize(
            request=payment_request(merchant, token_id=card_token(merchant))
        )
        assert outcome.provider == "sim-b"  # each one cascaded past sim-a's 500
    assert breaker.view(provider="sim-a").state == "open"

    skipped = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))
    assert [a[1] for a in skipped.attempts] == ["sim-b"]  # sim-a not even called

    sim.control("sim-a", error_rate=0.0)
    time.sleep(0.6)  # open_s passes: the next payment is sim-a's half-open probe
    probe = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert probe.provider == "sim-a" and probe.outcome == Outcome.APPROVED
    assert breaker.view(provider="sim-a").state == "closed"


def test_failed_probe_opens_the_breaker_again(merchant, providers, sim, fast_breaker):
    sim.control("sim-a", outage=True)
    for _ in range(3):
        services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))
    time.sleep(0.6)

    services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert breaker.view(provider="sim-a").state == "open"
    assert Attempt.objects.filter(provider="sim-a", kind="authorize").count() == 4


def test_breaker_opens_on_error_rate_without_consecutive_failures(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "100")
    monkeypatch.setenv("ROUTING_BREAKER_MIN_CALLS", "10")
    monkeypatch.setenv("ROUTING_BREAKER_ERROR_RATE", "0.5")
    for index in range(10):  # alternating error / success: never 2 consecutive failures
        outcome = Outcome.PROVIDER_ERROR if index % 2 == 0 else Outcome.SOFT_DECLINE
        state = breaker.record(provider="p", outcome=outcome)
    assert state == "closed"  # 5 of 10 failed, the last call a success

    assert breaker.record(provider="p", outcome=Outcome.TIMEOUT_UNKNOWN) == "open"


def test_declines_do_not_count_as_failures(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "2")
    for _ in range(5):
        breaker.record(provider="p", outcome=Outcome.HARD_DECLINE)
    assert breaker.view(provider="p").state == "closed"


@pytest.mark.django_db(transaction=True)
def test_half_open_breaker_admits_exactly_one_probe_across_concurrent_callers(monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "1")
    monkeypatch.setenv("ROUTING_BREAKER_OPEN_S", "0.2")
    breaker.record(provider="shared", outcome=Outcome.PROVIDER_ERROR)
    assert BreakerState.objects.get(provider="shared").state == "open"
    time.sleep(0.3)
    admitted: list[bool] = []
    barrier = threading.Barrier(PROBE_THREADS)

    def caller() -> None:
        try:
            barrier.wait()
            admitted.append(breaker.acquire(provider="shared"))
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(PROBE_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(admitted) == [False] * (PROBE_THREADS - 1) + [True]
    assert breaker.record(provider="shared", outcome=Outcome.APPROVED) == "closed"


def test_provider_refused_by_its_breaker_does_not_use_up_an_attempt(
    merchant, providers, sim, monkeypatch
):
    monkeypatch.setenv("ROUTING_MAX_ATTEMPTS_PER_PAYMENT", "1")
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "1")
    breaker.record(provider="sim-a", outcome=Outcome.PROVIDER_ERROR)  # sim-a is open now
    # Ranking read the breaker before it opened (another process's failure landed in between):
    # sim-a is still ranked first, and only `acquire` refuses it.
    monkeypatch.setattr(breaker, "is_available", lambda *, provider: True)

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert (outcome.outcome, outcome.provider) == (Outcome.APPROVED, "sim-b")
    assert [a[1] for a in outcome.attempts] == ["sim-b"]
    assert sim.records("sim-a") == []
