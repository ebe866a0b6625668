"""Circuit breakers: open on consecutive errors or an error rate, refuse calls while open, let
one probe through when half-open, close on success; state shared across threads/processes
through PostgreSQL; a successful call on a closed breaker writes nothing."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from routing import breaker, services
from routing.interface import Outcome, ProviderResult
from routing.models import Attempt, BreakerState
from routing.services.recording import complete_attempt
from tests.routing.conftest import card_token, payment_request

PROBE_THREADS = 8
# The module, not the function `routing.services` re-exports under the same name.
authorize_service = importlib.import_module("routing.services.authorize")


def _call(provider: str, outcome: Outcome) -> str:
    """One provider call as routing makes it: the attempt row is written before the call, the
    breaker hears the outcome, then the row is completed. Returns the breaker state."""
    attempt = Attempt.objects.create(
        kind="authorize", payment_id=f"pay_{uuid.uuid4().hex[:20]}", merchant_id="m",
        provider=provider, method="card", currency="EUR", amount_minor=100,
    )  # fmt: skip
    state = breaker.record(provider=provider, outcome=outcome)
    complete_attempt(attempt=attempt, result=ProviderResult(outcome, provider, attempt.id))
    return state


def _breaker_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "routing_breakerstate" in q["sql"]]


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
        state = _call("p", outcome)
    assert state == "closed"  # 5 of 10 failed, the last call a success

    assert _call("p", Outcome.TIMEOUT_UNKNOWN) == "open"


def test_error_rate_counts_only_the_calls_within_the_window(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "100")
    monkeypatch.setenv("ROUTING_BREAKER_MIN_CALLS", "5")
    monkeypatch.setenv("ROUTING_BREAKER_WINDOW_S", "60")
    for _ in range(4):
        _call("p", Outcome.PROVIDER_ERROR)
    Attempt.objects.filter(provider="p").update(
        created=timezone.now() - dt.timedelta(seconds=61)
    )  # those four failures are now older than the window

    assert _call("p", Outcome.PROVIDER_ERROR) == "closed"
    assert _call("p", Outcome.PROVIDER_ERROR) == "closed"  # 2 calls in the window, not 6
    view = breaker.view(provider="p")
    assert (view.window_calls, view.window_failures) == (2, 2)


def test_a_breaker_closed_by_hand_forgets_the_failures_before(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "100")
    monkeypatch.setenv("ROUTING_BREAKER_MIN_CALLS", "4")
    for _ in range(3):
        _call("p", Outcome.PROVIDER_ERROR)

    breaker.reset(provider="p")

    assert _call("p", Outcome.PROVIDER_ERROR) == "closed"  # 1 call counted, not 4


def test_a_success_clears_the_failure_streak(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "3")
    _call("p", Outcome.PROVIDER_ERROR)
    _call("p", Outcome.PROVIDER_ERROR)
    _call("p", Outcome.APPROVED)
    _call("p", Outcome.PROVIDER_ERROR)

    assert _call("p", Outcome.TIMEOUT_UNKNOWN) == "closed"
    assert breaker.view(provider="p").consecutive_failures == 2


def test_a_success_on_a_closed_breaker_without_a_streak_writes_nothing(db):
    _call("p", Outcome.APPROVED)

    with CaptureQueriesContext(connection) as queries:
        assert _call("p", Outcome.APPROVED) == "closed"

    [read] = _breaker_statements(queries)
    assert read.startswith("SELECT")


def test_a_call_through_a_breaker_its_ranking_saw_closed_needs_no_query(db):
    breaker.reset(provider="p")
    seen = breaker.snapshots(providers=["p", "q"])

    with CaptureQueriesContext(connection) as queries:
        assert breaker.acquire(provider="p", seen=seen["p"])
        assert breaker.acquire(provider="q", seen=seen["q"])  # no row yet: closed

    assert queries.captured_queries == []


def test_a_success_through_a_breaker_seen_closed_without_a_streak_needs_no_query(db):
    _call("p", Outcome.APPROVED)
    seen = breaker.snapshots(providers=["p"])["p"]

    with CaptureQueriesContext(connection) as queries:
        assert breaker.record(provider="p", outcome=Outcome.APPROVED, seen=seen) == "closed"

    assert queries.captured_queries == []


def test_a_success_through_a_breaker_seen_with_a_streak_still_clears_it(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "5")
    _call("p", Outcome.PROVIDER_ERROR)
    seen = breaker.snapshots(providers=["p"])["p"]
    assert seen.consecutive_failures == 1

    assert breaker.record(provider="p", outcome=Outcome.APPROVED, seen=seen) == "closed"
    assert breaker.view(provider="p").consecutive_failures == 0


def test_a_failure_is_counted_whatever_the_ranking_saw(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "2")
    seen = breaker.snapshots(providers=["p"])["p"]  # closed, no streak
    breaker.record(provider="p", outcome=Outcome.PROVIDER_ERROR, seen=seen)

    assert breaker.record(provider="p", outcome=Outcome.PROVIDER_ERROR, seen=seen) == "open"


def test_timeouts_resolved_later_still_count_against_the_provider(db, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "100")  # the error rate decides here
    monkeypatch.setenv("ROUTING_BREAKER_MIN_CALLS", "6")
    for _ in range(5):
        _call("p", Outcome.TIMEOUT_UNKNOWN)
    # A status inquiry finds out each timed-out call went through after all.
    for attempt in Attempt.objects.filter(provider="p"):
        complete_attempt(attempt=attempt, result=ProviderResult(Outcome.APPROVED, "p", attempt.id))
    assert breaker.view(provider="p").window_failures == 5

    assert _call("p", Outcome.TIMEOUT_UNKNOWN) == "open"  # 6 of 6 calls failed


def test_a_failure_counts_its_window_before_it_takes_the_row_lock(db, monkeypatch):
    """During an outage every failure records itself: the count over the attempt rows must not
    run while the other failures queue on the provider's row."""
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "100")
    _call("p", Outcome.PROVIDER_ERROR)

    with CaptureQueriesContext(connection) as queries:
        breaker.record(provider="p", outcome=Outcome.PROVIDER_ERROR)

    sqls = [q["sql"] for q in queries.captured_queries]
    count = next(i for i, sql in enumerate(sqls) if "routing_attempt" in sql)
    lock = next(i for i, sql in enumerate(sqls) if "FOR UPDATE" in sql)
    assert count < lock
    assert not any("routing_attempt" in sql for sql in sqls[lock:])  # no second count


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
    monkeypatch.setenv("ROUTING_BREAKER_OPEN_S", "0.2")
    breaker.record(provider="sim-a", outcome=Outcome.PROVIDER_ERROR)  # sim-a is open now
    time.sleep(0.3)  # … and ready for its half-open probe
    rank = authorize_service.rank

    def rank_then_another_process_takes_the_probe(**kwargs):
        ranking = rank(**kwargs)
        assert breaker.acquire(provider="sim-a")  # the only probe slot goes elsewhere
        return ranking

    # Ranking saw sim-a ready to be probed and ranked it first; only `acquire` refuses it.
    monkeypatch.setattr(authorize_service, "rank", rank_then_another_process_takes_the_probe)

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert (outcome.outcome, outcome.provider) == (Outcome.APPROVED, "sim-b")
    assert [a[1] for a in outcome.attempts] == ["sim-b"]
    assert sim.records("sim-a") == []
