"""Failover under load, over HTTP against the live simulator: sim-a goes down in the middle of a
run, traffic moves to sim-b, and no payment is authorized twice — checked against the
simulator's own records, not only ours."""

from __future__ import annotations

import collections
import queue
import threading

import pytest
from django.db import connection

from core.errors import InvalidState
from routing import services
from routing.interface import Outcome
from routing.models import Attempt, Provider
from routing.providers import invalidate
from tests.routing.conftest import card_token, payment_request

PAYMENTS = 48
THREADS = 4
OUTAGE_AFTER = 12


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_outage_mid_run_fails_over_to_sim_b_and_never_authorizes_twice(merchant, providers, sim):
    Provider.objects.filter(name="sim-a").update(timeout_ms=300)
    invalidate()
    # Some of sim-a's answers also arrive too late: those payments go through the inquiry.
    sim.control("sim-a", latency_ms={"mean": 5, "jitter": 5}, timeout_rate=0.1, timeout_s=1, seed=7)
    requests = queue.Queue()
    for _ in range(PAYMENTS):
        requests.put(payment_request(merchant, token_id=card_token(merchant)))
    done: list[tuple[str, Outcome]] = []
    done_lock = threading.Lock()
    outage_switched = threading.Event()

    def worker() -> None:
        try:
            while True:
                try:
                    request = requests.get_nowait()
                except queue.Empty:
                    return
                outcome = services.authorize(request=request)
                with done_lock:
                    done.append((request.payment_id, outcome.outcome))
                    if len(done) == OUTAGE_AFTER and not outage_switched.is_set():
                        sim.control("sim-a", outage=True)
                        outage_switched.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(done) == PAYMENTS and outage_switched.is_set()
    payment_of = dict(Attempt.objects.filter(kind="authorize").values_list("id", "payment_id"))
    approvals = collections.Counter()
    for provider in ("sim-a", "sim-b"):
        for record in sim.records(provider):
            if record["status"] == "approved":
                approvals[payment_of[record["reference"]]] += 1
    assert set(approvals) == {payment_id for payment_id, _ in done}  # every payment approved
    assert max(approvals.values()) == 1  # and none twice
    # A timeout just before the outage cannot be resolved during it (the inquiry fails too);
    # once sim-a is back, the inquiry finds those authorizations.
    sim.control("sim-a", outage=False, timeout_rate=0.0)
    for attempt_id in Attempt.objects.filter(outcome="timeout_unknown").values_list(
        "id", flat=True
    ):
        services.resolve_unknown_attempt(attempt_id=attempt_id)
    ours = collections.Counter(
        Attempt.objects.filter(kind="authorize", outcome="approved").values_list(
            "payment_id", flat=True
        )
    )
    assert ours == approvals
    late = [a for a in Attempt.objects.filter(kind="authorize", provider="sim-b")]
    assert late, "sim-b took over after the outage"
    assert any(o == Outcome.TIMEOUT_UNKNOWN for _, o in done), "the run exercised timeouts"


RACERS = 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("latency_ms", [0, 30])  # racers collide in flight, or just after
def test_concurrent_authorizations_of_one_payment_authorize_it_once(
    merchant, providers, sim, latency_ms
):
    sim.control("sim-a", latency_ms={"mean": latency_ms, "jitter": 0})
    request = payment_request(merchant, token_id=card_token(merchant))
    barrier = threading.Barrier(RACERS)
    results: list[str] = []
    lock = threading.Lock()

    def racer() -> None:
        try:
            barrier.wait()
            try:
                outcome = services.authorize(request=request)
                result = outcome.outcome.value
            except InvalidState as refused:
                result = refused.code
            with lock:
                results.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count("approved") == 1
    assert set(results) <= {"approved", "attempt_unresolved", "already_authorized"}
    approved_at_sims = [
        r for p in ("sim-a", "sim-b") for r in sim.records(p) if r["status"] == "approved"
    ]
    assert len(approved_at_sims) == 1
