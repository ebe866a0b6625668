"""Free text refuses control and formatting characters (security review 5.3): a bidi override or
an invisible mark in a description, metadata, a name or a reason could make one value look like
another in the back office. Each is a 400 naming the parameter; tab, line breaks and the joiners
some scripts need are kept."""

from __future__ import annotations

import pytest

from core.api.text import first_invisible_character
from tests.conftest import client_for
from tests.payments.conftest import GOOD_CARD

RIGHT_TO_LEFT_OVERRIDE = "\u202e"
SPOOFED = f"Refund {RIGHT_TO_LEFT_OVERRIDE}00.001 EUR"


@pytest.mark.parametrize(
    "character",
    ["\u202e", "\u2066", "\u200e", "\u200b", "\ufeff", "\x00", "\x1b", "\x7f", "\u0085"],
)
def test_control_and_format_characters_are_found(character):
    assert first_invisible_character(f"abc{character}def") == character


@pytest.mark.parametrize(
    "text",
    ["Line one\nline two\ttabbed\r\n", "می\u200cخواهم", "👨\u200d👩\u200d👧", "Zoë Ångström"],
)
def test_ordinary_text_line_breaks_and_joiners_pass(text):
    assert first_invisible_character(text) is None


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"description": SPOOFED}, "description"),
        ({"metadata": {"order": SPOOFED}}, "metadata"),
        ({"metadata": {f"order{RIGHT_TO_LEFT_OVERRIDE}": "7"}}, "metadata"),
        ({"customer": {"name": "Jane\x1b[2JDoe"}}, "customer[name]"),
    ],
)
def test_a_payment_with_invisible_characters_is_refused_naming_the_parameter(
    api, tokenize, providers, extra, param
):
    body = {"token": tokenize(GOOD_CARD), "amount": 1000, "currency": "eur", **extra}
    response = api.post("/api/payments", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, "parameter_invalid")


def test_a_multi_line_description_is_kept(api, tokenize, providers):
    description = "Order 7:\n\t2 × coffee"
    body = {"token": tokenize(GOOD_CARD), "amount": 1000, "currency": "eur"}
    response = api.post("/api/payments", {**body, "description": description}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["description"] == description


def test_a_cancellation_reason_with_invisible_characters_is_refused(api, pay):
    payment = pay(amount=1000).json()
    response = api.post(
        f"/api/payments/{payment['id']}/cancel",
        {"cancellation_reason": f"customer {RIGHT_TO_LEFT_OVERRIDE}request"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "cancellation_reason"
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "authorized"


def test_a_payment_link_description_with_invisible_characters_is_refused(api):
    body = {"amount": 1000, "currency": "eur", "description": SPOOFED}
    response = api.post("/api/payment-links", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "description"


def test_a_card_holder_name_with_invisible_characters_is_refused(merchant):
    card = {
        "number": GOOD_CARD,
        "exp_month": 12,
        "exp_year": 2031,
        "cvc": "123",
        "holder_name": f"Jane {RIGHT_TO_LEFT_OVERRIDE}eoD",
    }
    response = client_for(merchant.publishable).post("/api/tokens", {"card": card}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("card[holder_name]", "parameter_invalid")
