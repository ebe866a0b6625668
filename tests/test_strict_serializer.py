"""core/api/views.py StrictSerializer: the request serializers a view makes share one set of
fields per class instead of DRF's per-request deep copy; what they accept, the values they
return and the errors they give (message and code, at every level) must be DRF's own."""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import Any

import pytest
from rest_framework import serializers

from merchants.api import WebhookEndpointCreate
from payments.api import CancelIn, CaptureIn, PaymentCreate, RefundIn
from tokenization.api import TokenInput

TOKEN = "tok_1rDI73m9qDiWXgVlMTmqas"
VALID = {"token": TOKEN, "amount": 2500, "currency": "eur"}

PAYMENT_BODIES: list[Any] = [
    VALID,
    {**VALID, "capture": True, "description": "", "metadata": {"order": "A-1", "n": 7}},
    {**VALID, "customer": {"email": "a@example.com", "ip": "192.0.2.7"}},
    {**VALID, "customer": {"email": "", "ip": ""}},
    {**VALID, "return_url": "https://shop.example/done"},
    {"payment_method": {"type": "card", "token": TOKEN}, "amount": 1, "currency": "EUR"},
    {
        "payment_method": {"type": "wallet", "wallet": {"type": "apple_pay", "token": "x"}},
        "amount": 1,
        "currency": "eur",
    },
    # refused
    {},
    [],
    "text",
    {**VALID, "amout": 1},
    {**VALID, "customer": {"email": "a@example.com", "phone": "1"}},
    {"payment_method": {"type": "wallet", "wallet": {"kind": "x"}}, "amount": 1, "currency": "eur"},
    {"payment_method": {"type": "card"}, "amount": 1, "currency": "eur"},
    {"payment_method": {"type": "wallet"}, "amount": 1, "currency": "eur"},
    {"payment_method": {"type": "qr"}, "amount": 1, "currency": "eur"},
    {"payment_method": {"type": "cash"}, "amount": 1, "currency": "eur"},
    {"payment_method": "card", "amount": 1, "currency": "eur"},
    {**VALID, "payment_method": {"type": "card", "token": TOKEN}},
    {**VALID, "token": ""},
    {**VALID, "amount": 0},
    {**VALID, "amount": "1000"},
    {**VALID, "amount": 10.5},
    {**VALID, "amount": True},
    {**VALID, "amount": None},
    {**VALID, "amount": 100_000_001},
    {"token": TOKEN, "currency": "eur"},
    {**VALID, "currency": "xyz"},
    {**VALID, "currency": "euro"},
    {**VALID, "capture": "maybe"},
    {**VALID, "description": "x" * 1001},
    {**VALID, "metadata": "text"},
    {**VALID, "metadata": {str(key): "v" for key in range(51)}},
    {**VALID, "metadata": {"k" * 41: "v"}},
    {**VALID, "metadata": {"": "v"}},
    {**VALID, "metadata": {"k": True}},
    {**VALID, "metadata": {"k": "v" * 501}},
    {**VALID, "customer": {"email": "not-an-email", "ip": "999.1.1.1"}},
    {**VALID, "customer": "a@example.com"},
    {**VALID, "return_url": "not a url"},
    {**VALID, "token": "t" * 41, "amount": -1, "currency": "e", "unknown": 1},
]

OTHER_BODIES: list[tuple[type[serializers.Serializer], Any]] = [
    (CaptureIn, {}),
    (CaptureIn, {"amount": 5}),
    (CaptureIn, {"amount": "5"}),
    (CaptureIn, {"amount": 5, "reason": "x"}),
    (RefundIn, {"amount": 5, "reason": "duplicate"}),
    (RefundIn, {"reason": "because"}),
    (CancelIn, {"cancellation_reason": "x" * 201}),
    (TokenInput, {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}}),
    (TokenInput, {"card": {"number": "4242", "exp_month": "x", "exp_year": 2030, "cvc": None}}),
    (TokenInput, {"card": {"number": "4242424242424242", "4242424242424242": 1}}),
    (TokenInput, {"card": {}, "extra": 1}),
    (WebhookEndpointCreate, {"url": "https://example.com/hook", "enabled_events": []}),
    (WebhookEndpointCreate, {"url": "https://example.com/hook", "enabled_events": ["nope"]}),
]


def _plain(value: Any) -> Any:
    """Errors with their codes, as the error handler reads them."""
    if isinstance(value, serializers.ErrorDetail):
        return (str(value), value.code)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _outcome(serializer: serializers.Serializer) -> tuple[bool, Any, Any]:
    valid = serializer.is_valid()
    return valid, _plain(serializer.errors), serializer.validated_data if valid else None


def _drf_outcome(cls: type[serializers.Serializer], body: Any) -> tuple[bool, Any, Any]:
    """DRF's own path: a serializer with context gets its own deep copy of the fields."""
    serializer = cls(data=body, context={"own": "fields"})
    assert serializer.fields is not cls(data=body).fields
    return _outcome(serializer)


CASES = [(PaymentCreate, body) for body in PAYMENT_BODIES] + OTHER_BODIES


@pytest.mark.parametrize(("cls", "body"), CASES)
def test_shared_fields_accept_and_refuse_exactly_what_drf_s_own_copy_does(cls, body):
    assert _outcome(cls(data=body)) == _drf_outcome(cls, body)


def test_a_refused_request_leaves_nothing_for_the_next_one():
    for body in [*PAYMENT_BODIES, *reversed(PAYMENT_BODIES)]:
        assert _outcome(PaymentCreate(data=body)) == _drf_outcome(PaymentCreate, body)


def test_request_serializers_of_a_class_share_one_read_only_set_of_fields():
    first, second = PaymentCreate(data=VALID), PaymentCreate(data={})

    assert first.fields is second.fields
    assert first.fields["payment_method"].fields is second.fields["payment_method"].fields
    with pytest.raises(TypeError):
        first.fields["amount"] = serializers.IntegerField()  # would change every later request
    assert type(first.fields) is not type(PaymentCreate(data=VALID, context={"a": 1}).fields)


def test_a_serializer_with_context_or_partial_keeps_its_own_fields():
    with_context = PaymentCreate(data=VALID, context={"request": "r"})
    partial = WebhookEndpointCreate(data={"description": "d"}, partial=True)

    assert with_context.fields["amount"].context == {"request": "r"}
    assert with_context.fields["amount"].root is with_context
    assert partial.fields["url"].root is partial
    assert partial.is_valid(), partial.errors  # partial: required fields may be missing
    assert not WebhookEndpointCreate(data={"description": "d"}).is_valid()


def test_a_nested_request_serializer_keeps_its_own_fields():
    parent = PaymentCreate(data=VALID)
    nested = parent.fields["customer"]

    assert nested.parent is not None
    assert not isinstance(nested.fields, MappingProxyType)  # DRF's own, made once: it is shared
    assert nested.fields["email"].root is parent.fields["amount"].root


def test_requests_validated_at_once_in_threads_get_their_own_answers():
    bodies = PAYMENT_BODIES * 5
    expected = [_drf_outcome(PaymentCreate, body) for body in bodies]
    results: list[Any] = [None] * len(bodies)
    start = threading.Barrier(4)

    def validate(offset: int) -> None:
        start.wait()
        for index in range(offset, len(bodies), 4):
            results[index] = _outcome(PaymentCreate(data=bodies[index]))

    threads = [threading.Thread(target=validate, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == expected
