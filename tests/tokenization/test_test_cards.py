"""The vault decides what a test card is: test mode takes only the published test cards, live
mode refuses them, both with Stripe's 402 answers (docs/api.md, "Test cards")."""

from __future__ import annotations

import pytest

from tests.conftest import client_for
from tests.tokenization.conftest import LIVE_VISA
from tokenization import cards, conf, selectors
from tokenization.models import Token

pytestmark = pytest.mark.django_db


def _card(number: str) -> dict:
    cvc = "1234" if cards.detect_brand(number) == cards.AMEX else "123"
    return {"card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": cvc}}


@pytest.mark.parametrize("number", sorted(cards.TEST_CARDS))
def test_every_published_test_card_is_a_valid_card_number(number) -> None:
    digits, brand = cards.validate_number(number)
    assert digits == number and brand in cards.RULES


@pytest.mark.parametrize("number", sorted(cards.TEST_CARDS))
def test_a_test_key_tokenizes_every_test_card(merchant, number) -> None:
    response = client_for(merchant.publishable).post("/api/tokens", _card(number), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["livemode"] is False


def test_a_test_key_refuses_a_card_that_is_not_a_test_card(merchant) -> None:
    response = client_for(merchant.publishable).post("/api/tokens", _card(LIVE_VISA), format="json")

    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "live_mode_test_card",
    )
    assert error["param"] == "card[number]"
    assert "test mode" in error["message"]
    assert LIVE_VISA not in response.content.decode()
    assert not Token.objects.exists()


@pytest.mark.parametrize("key", ["live_secret", "live_publishable"])
def test_a_live_key_refuses_the_test_cards(merchant, key) -> None:
    from merchants import services as merchant_services

    plaintext = (
        merchant.live_secret
        if key == "live_secret"
        else merchant_services.create_api_key(
            merchant=merchant.merchant, kind="publishable", livemode=True
        ).plaintext
    )
    for number in ("4242424242424242", "4000000000000002", "4100000000000019"):
        response = client_for(plaintext).post("/api/tokens", _card(number), format="json")

        assert response.status_code == 402, response.content
        error = response.json()["error"]
        assert (error["code"], error["decline_code"]) == ("card_declined", "test_mode_live_card")
        assert "live mode" in error["message"]
    assert not Token.objects.exists()


def test_a_live_key_takes_a_real_card(merchant) -> None:
    response = client_for(merchant.live_secret).post("/api/tokens", _card(LIVE_VISA), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["livemode"] is True


def test_the_any_card_switch_lets_test_mode_take_other_cards(merchant, monkeypatch) -> None:
    monkeypatch.setenv("VAULT_TEST_MODE_ANY_CARD", "true")
    response = client_for(merchant.publishable).post("/api/tokens", _card(LIVE_VISA), format="json")
    assert response.status_code == 201, response.content
    # Live mode still refuses test cards with it on.
    live = client_for(merchant.live_secret).post(
        "/api/tokens", _card("4242424242424242"), format="json"
    )
    assert live.status_code == 402


def test_production_ignores_the_any_card_switch(monkeypatch) -> None:
    monkeypatch.setenv("VAULT_TEST_MODE_ANY_CARD", "true")
    assert conf.test_mode_any_card() is True
    monkeypatch.setenv("DJANGO_ENV", "production")
    assert conf.test_mode_any_card() is False


def test_token_info_says_whether_the_card_is_a_test_card(merchant, make_token, monkeypatch) -> None:
    test = make_token("4000000000000002")
    live = make_token(LIVE_VISA, livemode=True)
    info = selectors.token_info(token_id=test.id, merchant_id=merchant.merchant.pk, livemode=False)
    assert info.test_card is True
    info = selectors.token_info(token_id=live.id, merchant_id=merchant.merchant.pk, livemode=True)
    assert info.test_card is False
