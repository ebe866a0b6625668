"""The vault's audit row of the card routing sends: decrypted once per cascade and recorded once,
by the vault's own statement, before the first attempt is opened and any provider sees the card,
whatever happens next. A sealed card read by the caller spares reading the token and opens only
for its own merchant and mode."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import InvalidState, NotFound
from routing import breaker, services
from routing.interface import Outcome
from routing.models import Attempt, Decision
from tests.routing.conftest import RATED, card_token, payment_request
from tokenization import selectors as token_selectors
from tokenization import services as token_services
from tokenization.models import DetokenizationEvent

AUDIT_TABLE = "tokenization_detokenizationevent"
# The module, not the function `routing.services.authorize` that the package re-exports.
authorize_module = importlib.import_module("routing.services.authorize")


def _naming(queries: CaptureQueriesContext, table: str) -> list[str]:
    pattern = re.compile(rf'"{table}"|(?<![\w"]){table}(?![\w"])')
    return [q["sql"] for q in queries.captured_queries if pattern.search(q["sql"])]


def _sealed(merchant, token_id: str):
    return token_selectors.sealed_card(
        token_id=token_id, merchant_id=merchant.merchant.id, livemode=False
    )


def _cvc_left(merchant, token_id: str) -> str | None:
    return token_services.detokenize(
        token_id=token_id, merchant_id=merchant.merchant.id, livemode=False,
        actor="test", purpose="check", consume_cvc=False,
    ).cvc  # fmt: skip


def test_a_cascade_records_one_audit_row_before_its_first_attempt(merchant, providers, sim):
    sim.control("sim-a", approval_rate={"*": 0.0})  # a soft decline: cascades to sim-b
    token_id = card_token(merchant, RATED)
    request = payment_request(merchant, token_id=token_id, sealed_card=_sealed(merchant, token_id))

    with CaptureQueriesContext(connection) as queries:
        outcome = services.authorize(request=request)

    assert [a[1:3] for a in outcome.attempts] == [("sim-a", "soft_decline"), ("sim-b", "approved")]
    statements = [q["sql"] for q in queries.captured_queries]
    (audit_statement,) = _naming(queries, AUDIT_TABLE)
    first_attempt_insert = next(
        s for s in _naming(queries, "routing_attempt") if s.startswith("WITH")
    )
    assert "routing_" not in audit_statement  # the vault's own statement
    assert statements.index(audit_statement) < statements.index(first_attempt_insert)
    assert _naming(queries, "tokenization_token") == []
    (event,) = DetokenizationEvent.objects.filter(token_id=token_id)
    assert (event.merchant_id, event.livemode) == (merchant.merchant.id, False)
    assert (event.actor, event.purpose, event.cvc_consumed) == ("routing", "authorization", True)
    assert _cvc_left(merchant, token_id) is None  # taken once, for the whole cascade


def test_the_audit_row_is_stored_before_the_provider_sees_the_card(
    merchant, providers, sim, monkeypatch
):
    token_id = card_token(merchant)
    real_call = authorize_module._call
    audited_at_call: list[int] = []

    def call(config, attempt, request, card):
        audited_at_call.append(DetokenizationEvent.objects.filter(token_id=token_id).count())
        return real_call(config, attempt, request, card)

    monkeypatch.setattr(authorize_module, "_call", call)
    outcome = services.authorize(
        request=payment_request(
            merchant, token_id=token_id, sealed_card=_sealed(merchant, token_id)
        )
    )

    assert outcome.outcome == Outcome.APPROVED
    assert audited_at_call == [1]
    assert sim.records("sim-a")[0]["reference"] == outcome.attempt_id


@pytest.mark.parametrize(
    "transactional",
    [
        pytest.param(False, id="in a transaction (savepoint)"),
        pytest.param(True, id="autocommit", marks=pytest.mark.django_db(transaction=True)),
    ],
)
def test_an_attempt_refused_by_a_concurrent_authorization_still_records_the_audit(
    merchant, providers, sim, monkeypatch, transactional
):
    """The decision goes down with the refused attempt's INSERT and is stored on its own; the
    vault's audit row, written before, stays, and it says the CVC was consumed."""
    token_id = card_token(merchant)
    request = payment_request(merchant, token_id=token_id, sealed_card=_sealed(merchant, token_id))
    assert connection.in_atomic_block is not transactional

    def racing_acquire(*, provider, seen=None):
        # Another authorize of the payment opens its attempt first (its own live attempt).
        Attempt.objects.create(
            kind="authorize", payment_id=request.payment_id, merchant_id=request.merchant_id,
            provider="sim-b", method="card",
        )  # fmt: skip
        return True

    monkeypatch.setattr(breaker, "acquire", racing_acquire)
    with pytest.raises(InvalidState) as refused:
        services.authorize(request=request)

    assert refused.value.code == "attempt_unresolved"
    (event,) = DetokenizationEvent.objects.filter(token_id=token_id)
    assert (event.actor, event.purpose, event.cvc_consumed) == ("routing", "authorization", True)
    assert event.merchant_id == merchant.merchant.id
    assert Decision.objects.filter(payment_id=request.payment_id).exists()
    assert Attempt.objects.filter(payment_id=request.payment_id).count() == 1  # the racer's
    assert sim.records("sim-a") == [] and sim.records("sim-b") == []
    assert _cvc_left(merchant, token_id) is None


@pytest.mark.parametrize("breakers", ["refuse every call", "fail"])
def test_a_card_decrypted_but_sent_nowhere_is_still_audited(
    merchant, providers, sim, monkeypatch, breakers
):
    token_id = card_token(merchant)
    request = payment_request(merchant, token_id=token_id, sealed_card=_sealed(merchant, token_id))

    def acquire(*, provider, seen=None):
        if breakers == "fail":
            raise RuntimeError("breaker store unavailable")
        return False

    monkeypatch.setattr(breaker, "acquire", acquire)
    if breakers == "fail":
        with pytest.raises(RuntimeError):
            services.authorize(request=request)
    else:
        assert services.authorize(request=request).decline_code == "no_provider_available"

    (event,) = DetokenizationEvent.objects.filter(token_id=token_id)
    assert event.cvc_consumed is True
    assert Decision.objects.filter(payment_id=request.payment_id).exists()
    assert not Attempt.objects.filter(payment_id=request.payment_id).exists()


def test_a_sealed_card_of_another_merchant_s_token_is_not_found(
    merchant, other_merchant, providers, sim
):
    token_id = card_token(other_merchant)
    sealed = token_selectors.sealed_card(
        token_id=token_id, merchant_id=other_merchant.merchant.id, livemode=False
    )
    info = sealed.info
    # The caller vouches for the card facts, so only detokenization can refuse the token.
    request = payment_request(
        merchant, token_id=token_id, brand=info.brand, card_country=info.country,
        card_fingerprint=info.fingerprint, sealed_card=sealed,
    )  # fmt: skip

    with pytest.raises(NotFound):
        services.authorize(request=request)

    (refusal,) = DetokenizationEvent.objects.all()
    assert (refusal.token_id, refusal.merchant_id, refusal.outcome) == (
        token_id,
        merchant.merchant.id,
        "refused",
    )
    assert not Attempt.objects.filter(payment_id=request.payment_id).exists()
    assert sim.records("sim-a") == [] and sim.records("sim-b") == []


def test_a_routing_request_shows_no_ciphertext(merchant, providers):
    token_id = card_token(merchant)
    sealed = _sealed(merchant, token_id)
    shown = repr(payment_request(merchant, token_id=token_id, sealed_card=sealed))
    assert token_id in shown
    for secret in (sealed.encrypted_pan, sealed.nonce, sealed.wrapped_dek, sealed.scope_tag):
        assert repr(secret) not in shown and secret.hex() not in shown
