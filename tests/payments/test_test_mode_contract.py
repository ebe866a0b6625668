"""The test-mode contract (docs/api.md, "Test cards"), over the API: test mode is a sandbox that
behaves as documented. A merchant's test suite pays with the same test card as often as it likes
and gets that card's documented outcome every time; the card-testing defence that looks at many
DIFFERENT cards still cuts a burst off; the merchant's own rules apply as in live; test mode takes
only test cards and live mode refuses them."""

from __future__ import annotations

import pytest

from fraud import services as fraud_services
from tests.conftest import client_for
from tests.payments.conftest import APPROVING_TEST_CARDS, GOOD_CARD, REAL_CARD

pytestmark = pytest.mark.django_db

REPEATS = 5
AMOUNT_MINOR = 2500  # above every small-amount card-testing threshold

# card → (HTTP status, payment status or decline code), as docs/api.md documents it.
DOCUMENTED = {
    "4242424242424242": (201, "authorized"),
    "5555555555554444": (201, "authorized"),
    "378282246310005": (201, "authorized"),
    "4000000760000002": (201, "authorized"),
    "4000000000000002": (402, "generic_decline"),
    "4000000000009995": (402, "insufficient_funds"),
    "4000000000009987": (402, "lost_card"),
    "4000000000009979": (402, "stolen_card"),
    "4000000000000069": (402, "expired_card"),
    "4000000000000127": (402, "incorrect_cvc"),
    "4000000000000119": (402, "processing_error"),
    "4000000000006975": (402, "card_velocity_exceeded"),
    "4000000000003220": (201, "requires_action"),
    "4000000000003063": (201, "requires_action"),
    "4100000000000019": (402, "fraudulent"),
    "4000000000000259": (201, "authorized"),
}


def _outcome(response) -> tuple[int, str]:
    body = response.json()
    if response.status_code == 402:
        return 402, body["error"]["decline_code"]
    assert response.status_code == 201, response.content
    return 201, body["status"]


@pytest.mark.parametrize(("number", "documented"), DOCUMENTED.items())
def test_each_test_card_gives_its_documented_outcome_every_time(pay, number, documented):
    # One IP, the same card, five times within a minute: what a merchant's test suite does.
    customer = {"ip": "198.51.100.77", "email": "ci@example.com"}
    outcomes = [
        _outcome(pay(amount=AMOUNT_MINOR, number=number, customer=customer)) for _ in range(REPEATS)
    ]
    assert outcomes == [documented] * REPEATS


def test_a_new_user_pays_with_4242_again_and_again_without_a_customer_ip(pay):
    # The reported failure: declined as `fraudulent` from the third payment on.
    statuses = [pay(amount=1000, number=GOOD_CARD).status_code for _ in range(8)]
    assert statuses == [201] * 8


def test_the_decline_card_keeps_its_own_code_after_many_tries_in_the_hour(pay):
    codes = [_outcome(pay(number="4000000000000002"))[1] for _ in range(8)]
    assert codes == ["generic_decline"] * 8


def test_a_burst_of_different_test_cards_from_one_ip_at_small_amounts_is_cut_off(pay, providers):
    customer = {"ip": "203.0.113.9"}
    before = len(providers.records("sim-a")) + len(providers.records("sim-b"))

    outcomes = [
        _outcome(pay(amount=300, number=number, customer=customer))
        for number in APPROVING_TEST_CARDS[:20]
    ]

    assert outcomes[:3] == [(201, "authorized")] * 3
    assert outcomes[3:] == [(402, "fraudulent")] * 17
    sent = len(providers.records("sim-a")) + len(providers.records("sim-b")) - before
    assert sent == 3  # the cut-off cards never reached a provider


def test_a_merchant_rule_applies_in_test_mode(merchant, pay):
    fraud_services.create_rule(
        name="no_amex_over_20",
        expression='card.brand == "amex" && amount_ref_known && amount_ref > 2000',
        action="block",
        merchant_id=merchant.merchant.id,
    )

    blocked = pay(amount=AMOUNT_MINOR, number="378282246310005")
    allowed = pay(amount=AMOUNT_MINOR, number=GOOD_CARD)

    assert _outcome(blocked) == (402, "fraudulent")
    assert "no_amex_over_20" in blocked.json()["error"]["payment"]["fraud"]["rules"]
    assert _outcome(allowed) == (201, "authorized")


def test_a_live_key_refuses_a_test_card(merchant):
    card = {"number": GOOD_CARD, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    response = client_for(merchant.live_secret).post("/api/tokens", {"card": card}, format="json")
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "test_mode_live_card",
    )


def test_a_test_key_refuses_a_card_that_is_not_a_test_card(merchant):
    card = {"number": REAL_CARD, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    response = client_for(merchant.publishable).post("/api/tokens", {"card": card}, format="json")
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "live_mode_test_card",
    )
    assert REAL_CARD not in response.content.decode()
