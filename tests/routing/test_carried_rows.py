"""The caller's rows that routing carries in (`PaymentRoutingRequest.carried`: payments passes the
new payment, its first event and its fraud assessment): written by the statement that opens the
first attempt, before any provider is called, and written on their own, exactly once, on every
path where no attempt carries them."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import rows
from core.errors import InvalidRequest, InvalidState
from payments.models import Payment, PaymentEvent
from routing import breaker, services
from routing.interface import Outcome
from routing.models import Attempt, Decision
from tests.routing.conftest import RATED, card_token, payment_request
from tokenization import selectors as token_selectors

authorize_module = importlib.import_module("routing.services.authorize")


def _carried(merchant, token_id: str) -> tuple[Payment, PaymentEvent]:
    payment = Payment(
        merchant_id=merchant.merchant.id,
        livemode=False,
        amount_minor=1000,
        currency="EUR",
        method_type="card",
        method_details={"last4": "4242"},
        token_id=token_id,
    )
    event = PaymentEvent(payment=payment, from_status="", to_status="processing", actor="test")
    return payment, event


def _request(merchant, number: str = RATED, **extra):
    token_id = card_token(merchant, number)
    payment, event = _carried(merchant, token_id)
    sealed = token_selectors.sealed_card(
        token_id=token_id, merchant_id=merchant.merchant.id, livemode=False
    )
    request = payment_request(
        merchant,
        token_id=token_id,
        payment_id=payment.id,
        sealed_card=sealed,
        carried=(payment, event),
        **extra,
    )
    return request, payment


def _stored_once(payment: Payment) -> None:
    assert Payment.objects.filter(pk=payment.id).count() == 1
    assert PaymentEvent.objects.filter(payment_id=payment.id).count() == 1
    assert Payment.objects.get(pk=payment.id).status == "processing"


def test_the_first_attempt_s_insert_carries_the_caller_s_rows(
    merchant, providers, sim, monkeypatch
):
    request, payment = _request(merchant)
    real_call = authorize_module._call
    stored_at_call: list[bool] = []

    def call(config, attempt, routing_request, card):
        stored_at_call.append(Payment.objects.filter(pk=payment.id).exists())
        return real_call(config, attempt, routing_request, card)

    monkeypatch.setattr(authorize_module, "_call", call)
    with CaptureQueriesContext(connection) as queries:
        outcome = services.authorize(request=request)

    assert outcome.outcome == Outcome.APPROVED
    assert stored_at_call == [True]  # before the provider was asked
    (statement,) = [  # the one write of the payment's row
        q["sql"]
        for q in queries.captured_queries
        if '"payments"' in q["sql"] and not q["sql"].startswith("SELECT")
    ]
    assert statement.startswith("WITH")
    for table in ("routing_attempt", "routing_decision", "payments_paymentevent"):
        assert table in statement
    _stored_once(payment)
    assert Attempt.objects.get(pk=outcome.attempt_id).payment_id == payment.id


def test_a_cascade_stores_the_caller_s_rows_once(merchant, providers, sim):
    sim.control("sim-a", approval_rate={"*": 0.0})  # a soft decline: cascades to sim-b
    request, payment = _request(merchant)

    outcome = services.authorize(request=request)

    assert [a[1:3] for a in outcome.attempts] == [("sim-a", "soft_decline"), ("sim-b", "approved")]
    _stored_once(payment)


def _no_provider(monkeypatch):
    return {"exclude_providers": ("sim-a", "sim-b")}, None


def _attempt_limit(monkeypatch):
    monkeypatch.setattr(authorize_module.conf, "max_attempts_per_payment", lambda: 0)
    return {}, None


def _breakers_refuse(monkeypatch):
    monkeypatch.setattr(breaker, "acquire", lambda *, provider, seen=None: False)
    return {}, None


def _breakers_fail(monkeypatch):
    def acquire(*, provider, seen=None):
        raise RuntimeError("breaker store unavailable")

    monkeypatch.setattr(breaker, "acquire", acquire)
    return {}, RuntimeError


def _invalid_request(monkeypatch):
    return {"amount_minor": 0}, InvalidRequest


def _raced(monkeypatch):
    def racing_acquire(*, provider, seen=None):
        # Another authorize of the payment opens its attempt first (its own live attempt).
        Attempt.objects.create(
            kind="authorize", payment_id=racing_acquire.payment_id,
            merchant_id=racing_acquire.merchant_id, provider="sim-b", method="card",
        )  # fmt: skip
        return True

    monkeypatch.setattr(breaker, "acquire", racing_acquire)
    return {}, InvalidState, racing_acquire


@pytest.mark.parametrize(
    "path",
    [
        _no_provider,
        _attempt_limit,
        _breakers_refuse,
        _breakers_fail,
        _invalid_request,
        _raced,
    ],
    ids=lambda path: path.__name__.strip("_"),
)
@pytest.mark.django_db(transaction=True)  # autocommit, as payments calls it
def test_the_caller_s_rows_are_stored_when_no_attempt_carries_them(
    merchant, providers, sim, monkeypatch, path
):
    extra, *rest = path(monkeypatch)
    raises = rest[0] if rest else None
    request, payment = _request(merchant, **extra)
    if len(rest) > 1:  # the racer needs the payment's id
        rest[1].payment_id, rest[1].merchant_id = payment.id, request.merchant_id

    if raises is None:
        outcome = services.authorize(request=request)
        assert outcome.attempt_id == ""
    else:
        with pytest.raises(raises):
            services.authorize(request=request)

    _stored_once(payment)
    assert sim.records("sim-a") == [] and sim.records("sim-b") == []
    assert not Attempt.objects.filter(payment_id=payment.id, provider="sim-a").exists()
    if raises is not InvalidRequest:  # a refused request decides nothing
        assert Decision.objects.filter(payment_id=payment.id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_carried_row_the_database_refuses_is_not_taken_for_a_race(merchant, providers, sim):
    """Only the live-authorization index means "another authorize got there first"; any other
    integrity error of the first INSERT (here the caller's event, whose key is taken) comes out
    as it is, after one more try to store the caller's rows — and no provider is called."""
    from django.db import IntegrityError

    other_token = card_token(merchant)
    other_payment, other_event = _carried(merchant, other_token)
    rows.insert_together(other_payment, other_event)
    request, payment = _request(merchant)
    request.carried[1].id = other_event.id  # the carried event's key is taken

    with CaptureQueriesContext(connection) as queries, pytest.raises(IntegrityError) as refused:
        services.authorize(request=request)

    assert refused.value.__cause__.diag.constraint_name == "payments_paymentevent_pkey"
    tries = [q["sql"] for q in queries.captured_queries if "payments_paymentevent" in q["sql"]]
    assert len(tries) == 2  # with the attempt, then once on its own
    assert sim.records("sim-a") == [] and sim.records("sim-b") == []
    assert not Attempt.objects.filter(payment_id=payment.id).exists()
    assert not Payment.objects.filter(pk=payment.id).exists()  # went down with its event
