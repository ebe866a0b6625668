"""POST /api/tokens: publishable or secret key, validation errors naming the parameter."""

from __future__ import annotations

import pytest

from tests.conftest import client_for
from tests.tokenization.conftest import AMEX, LIVE_VISA, VISA, VISA_SPACED
from tokenization.models import Token

pytestmark = pytest.mark.django_db


def _card(**overrides):
    card = {"number": VISA_SPACED, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    card.update(overrides)
    return {"card": card}


def test_publishable_key_creates_a_token_with_card_metadata_only(merchant) -> None:
    response = client_for(merchant.publishable).post("/api/tokens", _card(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("tok_") and len(body["id"]) >= 4 + 22
    assert body["object"] == "token"
    assert body["card"]["brand"] == "visa"
    assert body["card"]["last4"] == "4242"
    assert (body["card"]["exp_month"], body["card"]["exp_year"]) == (12, 2034)
    assert body["card"]["country"] == "US"
    assert len(body["card"]["fingerprint"]) == 32
    assert VISA not in response.content.decode()
    assert "123" not in str(body["card"])


def test_secret_key_creates_a_token_too(api) -> None:
    assert api.post("/api/tokens", _card(number=AMEX, cvc="1234"), format="json").status_code == 201


def test_same_card_gives_same_fingerprint_but_a_new_random_token(merchant, other_merchant) -> None:
    first = client_for(merchant.publishable).post("/api/tokens", _card(), format="json").json()
    second = (
        client_for(merchant.secret)
        .post("/api/tokens", _card(number=VISA, cvc="999"), format="json")
        .json()
    )
    elsewhere = (
        client_for(other_merchant.publishable).post("/api/tokens", _card(), format="json").json()
    )
    assert first["id"] != second["id"]
    assert first["card"]["fingerprint"] == second["card"]["fingerprint"]
    assert first["card"]["fingerprint"] == elsewhere["card"]["fingerprint"]
    other = (
        client_for(merchant.secret)
        .post("/api/tokens", _card(number="5555555555554444"), format="json")
        .json()
    )
    assert other["card"]["fingerprint"] != first["card"]["fingerprint"]


def test_fingerprint_is_keyed_not_a_plain_hash(merchant) -> None:
    import hashlib

    body = client_for(merchant.publishable).post("/api/tokens", _card(), format="json").json()
    plain = {
        hashlib.sha256(VISA.encode()).hexdigest(),
        hashlib.sha1(VISA.encode()).hexdigest(),
        hashlib.md5(VISA.encode()).hexdigest(),
    }
    assert not any(value.startswith(body["card"]["fingerprint"]) for value in plain)


@pytest.mark.parametrize(
    ("card", "code", "param"),
    [
        (_card(number="4242424242424241"), "invalid_number", "card[number]"),
        (_card(number="4242-4242"), "invalid_number", "card[number]"),
        (_card(number=4242424242424241), "invalid_number", "card[number]"),
        (_card(number="0000 0000 0000 0000"), "invalid_number", "card[number]"),
        (_card(number="9999 9999 9999 9995"), "invalid_number", "card[number]"),
        (_card(exp_month=13), "invalid_expiry_month", "card[exp_month]"),
        (_card(exp_month="ab"), "invalid_expiry_month", "card[exp_month]"),
        (_card(exp_year=2200), "invalid_expiry_year", "card[exp_year]"),
        (_card(exp_year=2020), "expired_card", "card[exp_year]"),
        (_card(cvc="12"), "invalid_cvc", "card[cvc]"),
        (_card(number=AMEX, cvc="123"), "invalid_cvc", "card[cvc]"),
        ({"card": {"exp_month": 1, "exp_year": 2034}}, "parameter_missing", "card[number]"),
        (_card(pin="1234"), "parameter_unknown", "card[pin]"),
    ],
)
def test_invalid_cards_get_a_clear_error_naming_the_parameter(merchant, card, code, param) -> None:
    response = client_for(merchant.publishable).post("/api/tokens", card, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    number = str(card["card"].get("number", "")).replace(" ", "")
    if number:
        assert number not in response.content.decode()
        assert number[:12] not in response.content.decode()
    assert not Token.objects.exists()


def test_no_key_is_refused(merchant) -> None:
    from rest_framework.test import APIClient

    assert APIClient().post("/api/tokens", _card(), format="json").status_code == 401


def test_live_key_creates_a_live_token(merchant) -> None:
    # A real card: live mode refuses the test cards (tests/tokenization/test_test_cards.py).
    card = _card(number=LIVE_VISA)
    body = client_for(merchant.live_secret).post("/api/tokens", card, format="json").json()
    assert body["livemode"] is True
    assert Token.objects.get(pk=body["id"]).livemode is True


def test_cvc_is_not_in_the_token_row(merchant) -> None:
    # Amex: a four-digit CVC is distinctive enough to search random ciphertext bytes for.
    card = _card(number=AMEX, cvc="9876")
    body = client_for(merchant.publishable).post("/api/tokens", card, format="json").json()
    row = Token.objects.get(pk=body["id"])
    for field in ("encrypted_pan", "nonce", "wrapped_dek"):
        assert b"9876" not in bytes(getattr(row, field))
        assert AMEX.encode() not in bytes(getattr(row, field))
    assert row.card_last4 == "0005" and row.bin == "378282"


@pytest.mark.parametrize(
    "body",
    [
        {"card": {"4242 4242 4242 4242": "x"}},
        {"card": {"number": VISA, "exp_month": 12, "exp_year": 2034, VISA: "123"}},
        {"4242-4242-4242-4242": {"cvc": "123"}},
        {"card": {"4242424242424241": "x"}},  # not even Luhn-valid: still withheld
    ],
)
def test_a_card_number_sent_as_a_parameter_name_is_not_echoed(merchant, body) -> None:
    response = client_for(merchant.publishable).post("/api/tokens", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "parameter_unknown"
    assert "<withheld>" in error["param"]
    text = response.content.decode().replace(" ", "").replace("-", "")
    assert "42424242" not in text
    assert not Token.objects.exists()
