"""A provider timeout leaves the attempt unknown; a status inquiry resolves it; nothing else is
tried for the payment meanwhile."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import F
from django.utils import timezone

from core.errors import InvalidState
from routing import conf, services, tasks
from routing.interface import Outcome
from routing.models import Attempt, Provider
from routing.providers import invalidate
from routing.services import followups
from routing.tasks import sweep_unresolved_attempts
from tests.routing.conftest import THREE_DS, card_token, payment_request


@pytest.fixture
def sim_a_times_out(providers, sim):
    Provider.objects.filter(name="sim-a").update(timeout_ms=300)
    invalidate()
    # The simulator does the work, then answers after 2 s: our 300 ms timeout fires first.
    sim.control("sim-a", timeout_rate=1.0, timeout_s=2)


def test_timeout_stops_the_cascade_and_the_inquiry_finds_the_authorization(
    merchant, sim_a_times_out, sim, resolved, django_capture_on_commit_callbacks
):
    request = payment_request(merchant, token_id=card_token(merchant))

    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.TIMEOUT_UNKNOWN
    assert len(outcome.attempts) == 1
    assert sim.records("sim-b") == []  # no second provider while the first may have approved
    attempt = Attempt.objects.get(pk=outcome.attempt_id)
    assert attempt.outcome == "approved"  # resolved by the (eager) Celery task's inquiry
    assert attempt.provider_reference == sim.records("sim-a")[0]["id"]
    [(attempt_id, payment_id, result)] = resolved.calls
    assert (attempt_id, payment_id, result.outcome) == (
        outcome.attempt_id,
        request.payment_id,
        Outcome.APPROVED,
    )
    assert Attempt.objects.filter(parent=attempt, kind="status").count() == 1


def test_no_other_provider_is_tried_while_an_attempt_is_unknown(merchant, sim_a_times_out, sim):
    request = payment_request(merchant, token_id=card_token(merchant))
    first = services.authorize(request=request)  # on_commit never runs: stays unknown

    with pytest.raises(InvalidState) as refused:
        services.authorize(request=request)

    assert first.outcome == Outcome.TIMEOUT_UNKNOWN
    assert refused.value.code == "attempt_unresolved"
    assert sim.records("sim-b") == []


def test_inquiry_for_an_attempt_the_provider_never_saw_says_not_authorized(
    merchant, providers, sim, resolved
):
    attempt = Attempt.objects.create(
        kind="authorize",
        payment_id="pay_lost",
        merchant_id=merchant.merchant.id,
        provider="sim-a",
        method="card",
        currency="EUR",
        amount_minor=100,
        outcome="timeout_unknown",
    )

    result = services.resolve_unknown_attempt(attempt_id=attempt.id)

    attempt.refresh_from_db()
    assert (result.outcome, result.decline_code) == (Outcome.HARD_DECLINE, "not_found")
    assert (attempt.outcome, attempt.decline_code) == ("hard_decline", "not_found")
    assert resolved.calls[0][1] == "pay_lost"
    # Resolved: the payment may now be authorized elsewhere.
    again = services.authorize(
        request=payment_request(merchant, token_id=card_token(merchant), payment_id="pay_lost")
    )
    assert again.outcome == Outcome.APPROVED


def test_resolving_twice_changes_nothing_and_notifies_once(
    merchant, sim_a_times_out, sim, resolved
):
    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    services.resolve_unknown_attempt(attempt_id=outcome.attempt_id)
    services.resolve_unknown_attempt(attempt_id=outcome.attempt_id)

    assert len(resolved.calls) == 1
    assert Attempt.objects.filter(parent_id=outcome.attempt_id, kind="status").count() == 1


def test_sweep_resolves_attempts_left_pending_by_a_crash(merchant, providers, sim, resolved):
    # A process died between writing the attempt and hearing from the provider.
    attempt = Attempt.objects.create(
        kind="authorize",
        payment_id="pay_crashed",
        merchant_id=merchant.merchant.id,
        provider="sim-b",
        method="card",
        currency="EUR",
        amount_minor=100,
    )
    Attempt.objects.filter(pk=attempt.pk).update(created="2020-01-01T00:00:00Z")

    assert sweep_unresolved_attempts() == 1

    attempt.refresh_from_db()
    assert attempt.outcome == "hard_decline" and attempt.decline_code == "not_found"


def test_inquiry_after_3ds_return_settles_a_waiting_authorization(
    merchant, providers, sim, resolved
):
    outcome = services.authorize(
        request=payment_request(merchant, token_id=card_token(merchant, THREE_DS))
    )
    assert outcome.outcome == Outcome.REQUIRES_ACTION
    still_waiting = services.resolve_unknown_attempt(attempt_id=outcome.attempt_id)
    assert still_waiting.outcome == Outcome.REQUIRES_ACTION and resolved.calls == []

    sim.send_event("sim-a", "payment.succeeded", outcome.provider_reference)  # customer passed
    result = services.resolve_unknown_attempt(attempt_id=outcome.attempt_id)

    assert result.outcome == Outcome.APPROVED
    assert Attempt.objects.get(pk=outcome.attempt_id).outcome == "approved"
    assert [call[0] for call in resolved.calls] == [outcome.attempt_id]


def test_seeded_sim_base_url_overrides_the_environment(merchant, db, sim, monkeypatch):
    monkeypatch.setenv("PSP_SIM_URL", "http://127.0.0.1:9")  # nothing listens there
    services.seed_providers(sim_base_url=sim.base_url)

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert outcome.outcome == Outcome.APPROVED


def _unknown_attempt_with_inquiries(merchant, *, inquiries: int, last_inquiry_s_ago: int):
    long_ago = timezone.now() - dt.timedelta(hours=1)
    attempt = Attempt.objects.create(
        kind="authorize", payment_id="pay_chain", merchant_id=merchant.merchant.id,
        provider="sim-a", method="card", currency="EUR", amount_minor=100,
        outcome="timeout_unknown", inquiries=inquiries,
    )  # fmt: skip
    status = Attempt.objects.create(
        kind="status", parent=attempt, payment_id="pay_chain", merchant_id=merchant.merchant.id,
        provider="sim-a", method="card", currency="EUR", amount_minor=0,
        outcome="timeout_unknown",
    )  # fmt: skip
    Attempt.objects.filter(pk=attempt.pk).update(created=long_ago)
    Attempt.objects.filter(pk=status.pk).update(
        created=timezone.now() - dt.timedelta(seconds=last_inquiry_s_ago)
    )
    return attempt


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    """What the sweep queues, instead of running the inquiry chain eagerly."""
    calls: list[tuple] = []
    monkeypatch.setattr(tasks.resolve_unknown_attempt, "delay", lambda *args: calls.append(args))
    return calls


def test_sweep_leaves_an_attempt_whose_backoff_chain_is_still_running(db, merchant, queued):
    max_wait_s = conf.inquiry_backoff_s(conf.inquiry_max_tries())
    _unknown_attempt_with_inquiries(merchant, inquiries=3, last_inquiry_s_ago=max_wait_s - 30)

    assert sweep_unresolved_attempts() == 0
    assert queued == []


def test_sweep_resumes_a_quiet_chain_at_its_next_try(db, merchant, queued):
    max_wait_s = conf.inquiry_backoff_s(conf.inquiry_max_tries())
    attempt = _unknown_attempt_with_inquiries(
        merchant, inquiries=3, last_inquiry_s_ago=max_wait_s + 30
    )

    assert sweep_unresolved_attempts() == 1
    assert queued == [(attempt.id, 4)]  # not the last try: the chain continues with backoff


def test_inquiry_count_adds_to_the_stored_value_not_a_stale_copy(
    merchant, providers, sim, monkeypatch
):
    attempt = _unknown_attempt_with_inquiries(merchant, inquiries=2, last_inquiry_s_ago=0)
    sim.control("sim-a", outage=True)  # the inquiry gets no answer: still unknown
    stale_copy = Attempt.objects.get(pk=attempt.pk)
    original = followups._authorization

    def authorization_then_concurrent_inquiry(attempt_id, *, need_approved):
        auth = original(attempt_id, need_approved=need_approved)
        # Another worker's inquiry is counted while this one is at the provider.
        Attempt.objects.filter(pk=attempt_id).update(inquiries=F("inquiries") + 1)
        return auth

    monkeypatch.setattr(followups, "_authorization", authorization_then_concurrent_inquiry)

    followups.resolve_unknown_attempt(attempt_id=stale_copy.id)

    attempt.refresh_from_db()
    assert attempt.inquiries == 4  # 2 + the concurrent one + ours
