"""GET /api/balance: the key's merchant's money in the key's mode, per currency — pending (open
authorizations), posted and available — read from the ledger. A test payment moves the test
balance and never the live one, and a live payment the live balance and never the test one."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from payments import collection
from payments.services import Actor
from tests.conftest import client_for
from tests.payments.collections import collect_bank_transfer

pytestmark = pytest.mark.django_db

LIVE_IBAN = "GB33BUKB20201555555555"
EMPTY = {"available": [], "pending": [], "posted": []}


def balance(client) -> dict:
    response = client.get("/api/balance")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "balance"
    return body


def eur(amount: int) -> list[dict]:
    return [{"amount": amount, "currency": "EUR"}]


def test_a_new_merchant_has_an_empty_balance_in_each_mode(api, merchant):
    assert balance(api) == {"object": "balance", "livemode": False, **EMPTY}
    live = balance(client_for(merchant.live_secret))
    assert live == {"object": "balance", "livemode": True, **EMPTY}


def test_a_test_payment_moves_the_test_balance_and_never_the_live_one(api, merchant, pay):
    live = client_for(merchant.live_secret)
    payment = pay(amount=10_000).json()
    assert payment["status"] == "authorized"
    assert balance(api) == {
        "object": "balance",
        "livemode": False,
        "pending": eur(10_000),  # the open authorization
        "posted": eur(0),
        "available": eur(0),
    }

    captured = api.post(f"/api/payments/{payment['id']}/capture", {"amount": 6_000}, format="json")
    assert captured.status_code == 200, captured.content
    body = balance(api)
    assert (body["pending"], body["posted"], body["available"]) == (eur(0), eur(6_000), eur(6_000))

    refunded = api.post(f"/api/payments/{payment['id']}/refund", {"amount": 1_000}, format="json")
    assert refunded.status_code in (200, 201), refunded.content
    body = balance(api)
    assert (body["posted"], body["available"]) == (eur(5_000), eur(5_000))

    assert balance(live) == {"object": "balance", "livemode": True, **EMPTY}


def test_a_live_payment_moves_the_live_balance_and_never_the_test_one(api, merchant, settings):
    settings.COLLECTION_ACCOUNTS = {
        **settings.COLLECTION_ACCOUNTS,
        "live": {"iban": LIVE_IBAN, "bic": "BUKBGB22", "name": "QR Payments Live"},
    }
    live = client_for(merchant.live_secret)
    created = collect_bank_transfer(live, amount=4_200)
    assert created.status_code == 201, created.content
    payment = created.json()
    assert payment["livemode"] is True

    # The money arrives on the live collection account (as a matched statement credit books it).
    collection.complete_collection(
        payment_id=payment["id"],
        amount_minor=4_200,
        currency="EUR",
        source=f"bank:{LIVE_IBAN}",
        source_reference="live-credit-1",
        actor=Actor.system("test"),
    )

    assert balance(live) == {
        "object": "balance",
        "livemode": True,
        "available": eur(4_200),
        "pending": eur(0),
        "posted": eur(4_200),
    }
    assert balance(api) == {"object": "balance", "livemode": False, **EMPTY}


def test_other_merchants_money_is_not_in_the_balance(api, other_merchant, providers):
    other = client_for(other_merchant.secret)
    token = client_for(other_merchant.publishable).post(
        "/api/tokens",
        {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}},
        format="json",
    )
    assert token.status_code == 201, token.content
    paid = other.post(
        "/api/payments",
        {"token": token.json()["id"], "amount": 3_000, "currency": "eur", "capture": True},
        format="json",
    )
    assert paid.status_code == 201, paid.content
    assert balance(other)["posted"] == eur(3_000)
    assert balance(api) == {"object": "balance", "livemode": False, **EMPTY}


def test_a_publishable_key_cannot_read_the_balance(merchant):
    response = client_for(merchant.publishable).get("/api/balance")
    assert response.status_code == 403
    assert "error" in response.json()


def test_an_unknown_parameter_is_refused(api):
    response = api.get("/api/balance?currency=eur")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_unknown", "currency")


def test_the_openapi_schema_describes_the_balance(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/balance"]["get"]
    assert operation["operationId"] == "balance_retrieve"
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"object", "livemode", "available", "pending", "posted"} <= set(component["properties"])
