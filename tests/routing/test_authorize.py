"""Authorization through routing against the live simulator: choice, cascade, limits."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import InvalidState
from routing import providers as provider_metadata
from routing import selectors, services
from routing.interface import Outcome, WalletData
from routing.models import Attempt
from tests.routing.conftest import (
    GENERIC_DECLINE,
    PROCESSING_ERROR,
    RATED,
    THREE_DS,
    card_token,
    payment_request,
)
from tokenization import selectors as token_selectors
from tokenization.models import DetokenizationEvent


def test_approved_card_is_authorized_at_the_first_priority_provider(merchant, providers, sim):
    request = payment_request(merchant, token_id=card_token(merchant), amount_minor=1234)

    outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.APPROVED
    assert outcome.provider == "sim-a"
    assert outcome.fee_minor == 30 + (1234 * 290 + 5000) // 10_000
    [record] = sim.records("sim-a")
    assert record["reference"] == outcome.attempt_id
    assert record["id"] == outcome.provider_reference
    [row] = selectors.attempts_for_payment(payment_id=request.payment_id)
    assert (row.outcome, row.provider, row.kind) == ("approved", "sim-a", "authorize")
    assert row.latency_ms is not None and row.resolved_at is not None
    decision = selectors.decision_for_payment(payment_id=request.payment_id)
    assert decision.id == outcome.decision_id
    assert decision.order == ("sim-a", "sim-b")
    assert {c["provider"] for c in decision.candidates} >= {"sim-a", "sim-b"}


def test_soft_decline_cascades_to_the_next_provider_which_approves(merchant, providers, sim):
    sim.control("sim-a", approval_rate={"*": 0.0})  # declines try_again_later: retryable
    request = payment_request(merchant, token_id=card_token(merchant, RATED))

    outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.APPROVED
    assert outcome.provider == "sim-b"
    assert [(a[1], a[2], a[3]) for a in outcome.attempts] == [
        ("sim-a", "soft_decline", "try_again_later"),
        ("sim-b", "approved", ""),
    ]
    assert sim.records("sim-b")[0]["reference"] == outcome.attempt_id


def test_card_is_detokenized_once_for_the_whole_cascade(merchant, providers, sim):
    sim.control("sim-a", approval_rate={"*": 0.0})
    token_id = card_token(merchant, RATED)

    services.authorize(request=payment_request(merchant, token_id=token_id))

    assert DetokenizationEvent.objects.filter(token_id=token_id).count() == 1


def test_hard_decline_never_cascades(merchant, providers, sim):
    request = payment_request(merchant, token_id=card_token(merchant, GENERIC_DECLINE))

    outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.HARD_DECLINE
    assert outcome.decline_code == "generic_decline"
    assert len(outcome.attempts) == 1
    assert sim.records("sim-b") == []


def test_provider_outage_cascades_to_the_next_provider(merchant, providers, sim):
    sim.control("sim-a", outage=True)

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert outcome.outcome == Outcome.APPROVED
    assert [a[1:3] for a in outcome.attempts] == [
        ("sim-a", "provider_error"),
        ("sim-b", "approved"),
    ]


def test_cascade_stops_at_the_per_payment_attempt_limit(merchant, providers, sim, monkeypatch):
    monkeypatch.setenv("ROUTING_MAX_ATTEMPTS_PER_PAYMENT", "1")
    request = payment_request(merchant, token_id=card_token(merchant, PROCESSING_ERROR))

    outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.SOFT_DECLINE
    assert len(outcome.attempts) == 1
    assert sim.records("sim-b") == []


def test_card_with_too_many_declines_in_24h_is_not_sent_anywhere(
    merchant, providers, sim, monkeypatch
):
    monkeypatch.setenv("ROUTING_MAX_DECLINES_PER_CARD_24H", "2")
    for _ in range(2):
        token_id = card_token(merchant, GENERIC_DECLINE)  # a new token, the same card
        services.authorize(request=payment_request(merchant, token_id=token_id))
    sent_before = len(sim.records("sim-a"))

    outcome = services.authorize(
        request=payment_request(merchant, token_id=card_token(merchant, GENERIC_DECLINE))
    )

    assert outcome.outcome == Outcome.HARD_DECLINE
    assert outcome.decline_code == "attempt_limit_exceeded"
    assert outcome.attempts == ()
    assert len(sim.records("sim-a")) == sent_before


def test_an_authorized_payment_is_never_authorized_again(merchant, providers, sim):
    request = payment_request(merchant, token_id=card_token(merchant))
    services.authorize(request=request)

    with pytest.raises(InvalidState) as refused:
        services.authorize(request=request)

    assert refused.value.code == "already_authorized"
    assert len(sim.records("sim-a")) == 1


def test_excluded_and_unsupported_providers_are_skipped_and_recorded(merchant, providers, sim):
    request = payment_request(merchant, token_id=card_token(merchant), exclude_providers=("sim-a",))

    outcome = services.authorize(request=request)

    assert outcome.provider == "sim-b"
    decision = selectors.decision_for_payment(payment_id=request.payment_id)
    excluded = {c["provider"]: c.get("excluded") for c in decision.candidates}
    assert excluded["sim-a"] == "excluded by caller"
    assert excluded["stripe"] == "disabled"


def test_wallet_payment_is_authorized_without_the_vault(merchant, providers, sim):
    request = payment_request(merchant, token_id="").__class__(
        payment_id="pay_wallet_1",
        merchant_id=merchant.merchant.id,
        livemode=False,
        amount_minor=500,
        currency="USD",
        method="wallet",
        wallet=WalletData(type="apple_pay", token="opaque-wallet-token"),
    )

    outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.APPROVED
    assert sim.records("sim-a")[0]["reference"] == outcome.attempt_id


def test_capture_refund_and_void_are_recorded_as_calls_on_the_authorization(
    merchant, providers, sim
):
    first = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))
    second = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    captured = services.capture(attempt_id=first.attempt_id, amount_minor=600)
    refunded = services.refund(
        attempt_id=first.attempt_id, amount_minor=200, refund_reference="re_test_1"
    )
    voided = services.void(attempt_id=second.attempt_id)

    assert [r.outcome for r in (captured, refunded, voided)] == [Outcome.APPROVED] * 3
    by_ref = {r["reference"]: r for r in sim.records("sim-a")}
    assert by_ref[first.attempt_id]["amount_captured"] == 600
    assert by_ref[second.attempt_id]["status"] == "voided"
    kinds = Attempt.objects.filter(parent_id=first.attempt_id).values_list("kind", "outcome")
    assert sorted(kinds) == [("capture", "approved"), ("refund", "approved")]


def test_refund_beyond_captured_is_refused_by_the_provider(merchant, providers, sim):
    auth = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))
    services.capture(attempt_id=auth.attempt_id, amount_minor=300)

    result = services.refund(attempt_id=auth.attempt_id, amount_minor=301, refund_reference="re_x")

    assert result.outcome == Outcome.HARD_DECLINE
    assert result.decline_code == "amount_exceeds_refundable"


def test_sale_is_captured_by_the_provider_with_the_authorization(merchant, providers, sim):
    request = payment_request(
        merchant, token_id=card_token(merchant), amount_minor=1500, capture=True
    )

    outcome = services.authorize(request=request)

    assert (outcome.outcome, outcome.captured) == (Outcome.APPROVED, True)
    [record] = sim.records("sim-a")
    assert record["amount_captured"] == 1500
    assert services.sent_as_sale(attempt_id=outcome.attempt_id)


def test_authorization_without_capture_leaves_the_money_uncaptured(merchant, providers, sim):
    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert (outcome.outcome, outcome.captured) == (Outcome.APPROVED, False)
    assert not sim.records("sim-a")[0]["amount_captured"]
    assert not services.sent_as_sale(attempt_id=outcome.attempt_id)


def test_declined_sale_captures_nothing(merchant, providers, sim):
    request = payment_request(
        merchant, token_id=card_token(merchant, GENERIC_DECLINE), capture=True
    )

    outcome = services.authorize(request=request)

    assert (outcome.outcome, outcome.captured) == (Outcome.HARD_DECLINE, False)
    assert services.sent_as_sale(attempt_id=outcome.attempt_id)  # asked for, not granted
    assert not sim.records("sim-a")[0]["amount_captured"]


def test_sale_behind_3ds_is_captured_once_the_customer_passes(merchant, providers, sim):
    request = payment_request(
        merchant, token_id=card_token(merchant, THREE_DS), amount_minor=2600, capture=True
    )
    outcome = services.authorize(request=request)
    assert (outcome.outcome, outcome.captured) == (Outcome.REQUIRES_ACTION, False)
    assert not sim.records("sim-a")[0]["amount_captured"]

    sim.send_event("sim-a", "payment.succeeded", outcome.provider_reference)  # customer passed
    services.resolve_unknown_attempt(attempt_id=outcome.attempt_id)

    assert Attempt.objects.get(pk=outcome.attempt_id).outcome == "approved"
    assert sim.records("sim-a")[0]["amount_captured"] == 2600


def test_card_facts_from_the_caller_spare_reading_the_token(merchant, providers, sim, monkeypatch):
    token_id = card_token(merchant)
    info = token_selectors.token_info(
        token_id=token_id, merchant_id=merchant.merchant.id, livemode=False
    )

    def unexpected(**_):
        raise AssertionError("the token was read for facts the caller gave")

    monkeypatch.setattr(token_selectors, "token_info", unexpected)
    request = payment_request(
        merchant, token_id=token_id, brand="Visa", card_country="us",
        card_fingerprint=info.fingerprint,
    )  # fmt: skip

    outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.APPROVED
    attempt = Attempt.objects.get(pk=outcome.attempt_id)
    assert (attempt.brand, attempt.card_fingerprint) == ("visa", info.fingerprint)
    assert DetokenizationEvent.objects.filter(token_id=token_id).count() == 1


def _statements(queries: CaptureQueriesContext, table: str) -> list[str]:
    """Statements naming `table` (quoted, as the ORM writes it, or bare, in raw SQL)."""
    pattern = re.compile(rf'(?<![\w"]){table}(?![\w"])|"{table}"')
    return [q["sql"] for q in queries.captured_queries if pattern.search(q["sql"])]


def test_an_approved_authorization_costs_few_statements(merchant, providers, sim):
    """The hot path of every payment: earlier attempts and every breaker in one query (for
    ranking; the success needs no second look, none is written), provider configurations read
    once, the token not read at all (the caller's read brought the card, sealed), the vault's
    audit row in its own statement, the routing decision stored in the same statement as the
    first attempt, and the attempt completed by one UPDATE."""
    token_id = card_token(merchant)
    sealed = token_selectors.sealed_card(
        token_id=token_id, merchant_id=merchant.merchant.id, livemode=False
    )
    info = sealed.info
    request = payment_request(
        merchant, token_id=token_id, brand=info.brand, card_country=info.country,
        card_fingerprint=info.fingerprint, capture=True, sealed_card=sealed,
    )  # fmt: skip
    provider_metadata.provider_configs()  # the shared cache is warm …
    provider_metadata.forget_process_memo()  # … this process's memo is not

    with CaptureQueriesContext(connection) as queries:
        outcome = services.authorize(request=request)

    assert outcome.captured
    assert len(_statements(queries, "qr_cache")) <= 1  # none when the cache is Redis
    assert _statements(queries, "tokenization_token") == []  # the sealed card was opened
    attempt_statements = [s.split()[0] for s in _statements(queries, "routing_attempt")]
    assert attempt_statements == ["SELECT", "WITH", "UPDATE"]  # the INSERT carries its decision
    attempt_insert = [s for s in _statements(queries, "routing_attempt") if s.startswith("WITH")]
    assert _statements(queries, "routing_decision") == attempt_insert
    (audit,) = _statements(queries, "tokenization_detokenizationevent")
    assert "routing_" not in audit
    prior_attempts = _statements(queries, "routing_attempt")[0]
    assert _statements(queries, "routing_breakerstate") == [prior_attempts]
    real = [
        q for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(real) <= 7, [q["sql"][:60] for q in real]  # with the profile and its rules


def test_refusals_are_answered_from_one_query_of_earlier_attempts(merchant, providers, sim):
    request = payment_request(merchant, token_id=card_token(merchant))
    services.authorize(request=request)

    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidState) as refused:
        services.authorize(request=request)

    assert refused.value.code == "already_authorized"
    assert len(_statements(queries, "routing_attempt")) == 1


def test_the_decision_is_kept_when_the_vault_fails_before_the_first_attempt(
    merchant, providers, sim
):
    from core.errors import NotFound
    from routing.models import Decision

    # The caller vouches for the card facts, so only detokenization finds the token missing.
    request = payment_request(
        merchant, token_id="tok_missing", brand="visa", card_country="DE",
        card_fingerprint="fp_missing",
    )  # fmt: skip

    with pytest.raises(NotFound):
        services.authorize(request=request)

    decision = Decision.objects.get(payment_id=request.payment_id)
    assert decision.order  # ranked, then the vault refused: no attempt was made
    assert not Attempt.objects.filter(payment_id=request.payment_id).exists()


def test_every_answer_is_recorded_by_routing(merchant, providers, sim):
    for card in (card_token(merchant), card_token(merchant, GENERIC_DECLINE)):
        outcome = services.authorize(request=payment_request(merchant, token_id=card))
        for attempt_id, *_ in outcome.attempts:
            stored = Attempt.objects.get(pk=attempt_id)
            assert stored.outcome != "pending" and stored.resolved_at is not None
            assert stored.provider_reference == outcome.provider_reference or (
                stored.outcome != "approved"
            )


def test_earlier_attempts_are_read_through_indexes_even_in_a_generic_plan_of_an_empty_table(
    merchant,
):
    """The statement is prepared; a generic plan made while the table is small is kept until the
    next ANALYZE. It must not be a scan of the whole table (measured before: one full scan of
    routing_attempt per payment under load)."""
    import importlib

    authorize_module = importlib.import_module("routing.services.authorize")
    from tests.plans import generic_plan, sequential_scans

    params = authorize_module._prior_params(
        payment_request(merchant, token_id="tok_x"), "fingerprint", ["sim-a"]
    )
    plan = generic_plan(authorize_module._PRIOR_SQL, params)

    assert "routing_attempt" not in sequential_scans(plan), json.dumps(plan, indent=1)[:3000]
