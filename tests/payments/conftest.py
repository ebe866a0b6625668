"""Payments fixtures: providers seeded and pointed at the live simulator, cards tokenized."""

from __future__ import annotations

import pytest
from stdnum import luhn

from tests.conftest import client_for

GOOD_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
THREE_DS_CARD = "4000000000003220"
FRAUD_CARD = "4100000000000019"


def luhn_complete(prefix: str) -> str:
    """`prefix` plus the Luhn check digit."""
    return prefix + luhn.calc_check_digit(prefix)


def distinct_card(index: int) -> str:
    """A different approving Visa number per index, so fraud velocity rules see new cards."""
    return luhn_complete(f"424242{index:09d}")


@pytest.fixture
def tokenize(merchant):
    client = client_for(merchant.publishable)

    def make(number: str = GOOD_CARD, **card) -> str:
        body = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123", **card}
        response = client.post("/api/tokens", {"card": body}, format="json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return make


@pytest.fixture
def pay(api, tokenize, providers):
    """Create a payment over the API; returns the HTTP response."""

    def make(amount: int = 10_000, currency: str = "eur", number: str = GOOD_CARD, **extra):
        body = {"token": tokenize(number), "amount": amount, "currency": currency, **extra}
        return api.post("/api/payments", body, format="json")

    return make


def ledger_of(api, payment_id: str) -> dict:
    response = api.get(f"/api/payments/{payment_id}/ledger")
    assert response.status_code == 200, response.content
    return response.json()
