"""Payments fixtures: providers seeded and pointed at the live simulator, cards tokenized."""

from __future__ import annotations

import pytest

from routing.simulator import cards as simulator_cards
from tests.conftest import client_for
from tokenization import cards as vault_cards

GOOD_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
THREE_DS_CARD = "4000000000003220"
FRAUD_CARD = "4100000000000019"
# Luhn-valid Visa, no published test card: live mode takes it, test mode refuses it unless a test
# turns on `any_card_in_test_mode` (the simulator's approval rate decides for it).
REAL_CARD = "4539578763621486"


# The published test cards the simulator simply approves (by brand and by country): test mode
# takes them, and a repeated one keeps approving (the test-mode contract).
APPROVING_TEST_CARDS = tuple(
    number for number in vault_cards.TEST_CARDS if number not in simulator_cards.TEST_CARDS
)


def distinct_test_card(index: int) -> str:
    """A different approving test card per index (there are len(APPROVING_TEST_CARDS))."""
    return APPROVING_TEST_CARDS[index]


@pytest.fixture
def any_card_in_test_mode(monkeypatch) -> None:
    """Test mode takes cards that are not test cards (VAULT_TEST_MODE_ANY_CARD), for a test about
    how the fraud rules treat a real card."""
    monkeypatch.setenv("VAULT_TEST_MODE_ANY_CARD", "true")


@pytest.fixture
def tokenize(merchant):
    client = client_for(merchant.publishable)

    def make(number: str = GOOD_CARD, **card) -> str:
        cvc = "1234" if vault_cards.detect_brand(number) == vault_cards.AMEX else "123"
        body = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": cvc, **card}
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
