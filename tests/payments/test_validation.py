"""Create-payment validation: Stripe-like, each error naming its parameter; nothing is created."""

import pytest

from payments.models import Payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def create(api, tokenize, providers):
    def post(**overrides):
        # The same test card every time: in test mode its repeats are never a fraud decline.
        token = tokenize()
        body = {"token": token, "amount": 1000, "currency": "eur", **overrides}
        body = {key: value for key, value in body.items() if value is not ...}
        return api.post("/api/payments", body, format="json")

    return post


def error(response, status=400):
    assert response.status_code == status, response.content
    return response.json()["error"]


@pytest.mark.parametrize("amount", [0, -5, 10.5, "1000", True, None, 1e3])
def test_amount_must_be_a_positive_integer(create, amount):
    assert error(create(amount=amount))["param"] == "amount"
    assert Payment.objects.count() == 0


def test_amount_is_required(create):
    err = error(create(amount=...))
    assert (err["param"], err["code"]) == ("amount", "parameter_missing")


@pytest.mark.parametrize(
    ("currency", "too_large", "largest"),
    [
        ("eur", 100_000_001, 100_000_000),
        ("jpy", 1_000_001, 1_000_000),
        ("kwd", 1_000_000_001, 1_000_000_000),
    ],
)
def test_maximum_amount_respects_the_currency_exponent(create, currency, too_large, largest):
    err = error(create(amount=too_large, currency=currency))
    assert (err["param"], err["code"]) == ("amount", "amount_too_large")
    accepted = create(amount=largest, currency=currency)
    # Validation lets the largest amount through (a provider may still decline it).
    assert accepted.status_code in (201, 402), accepted.content
    assert accepted.json().get("error", {}).get("type", "card_error") == "card_error"


def test_unsupported_currency(create):
    err = error(create(currency="xyz"))
    assert (err["param"], err["code"]) == ("currency", "currency_unsupported")


def test_currency_is_case_insensitive_in_and_upper_case_out(create):
    assert create(currency="usd").json()["currency"] == "USD"


def test_unknown_parameter_is_refused(create):
    err = error(create(colour="red"))
    assert (err["param"], err["code"]) == ("colour", "parameter_unknown")


def test_unknown_nested_parameter_is_refused(api, providers):
    body = {
        "payment_method": {"type": "wallet", "wallet": {"type": "apple_pay", "token": "t", "x": 1}},
        "amount": 100,
        "currency": "eur",
    }
    err = error(api.post("/api/payments", body, format="json"))
    assert (err["param"], err["code"]) == ("payment_method[wallet][x]", "parameter_unknown")


def test_token_and_payment_method_are_exclusive(create):
    err = error(create(payment_method={"type": "card", "token": "tok_x"}))
    assert err["param"] == "token"
    err = error(create(token=...))
    assert err["param"] == "token"


def test_a_qr_payment_needs_a_scheme(api, providers):
    body = {"payment_method": {"type": "qr"}, "amount": 100, "currency": "eur"}
    err = error(api.post("/api/payments", body, format="json"))
    assert (err["param"], err["code"]) == ("payment_method[scheme]", "parameter_missing")


def test_metadata_limits(create):
    assert create(metadata={f"k{index}": "v" for index in range(50)}).status_code == 201
    assert error(create(metadata={f"k{index}": "v" for index in range(51)}))["code"] == (
        "metadata_too_many_keys"
    )
    assert error(create(metadata={"k" * 41: "v"}))["code"] == "metadata_key_too_long"
    assert error(create(metadata={"k": "v" * 501}))["code"] == "metadata_value_too_long"
    assert error(create(metadata={"k": {"nested": 1}}))["param"] == "metadata"
    assert create(metadata={"k" * 40: "v" * 500}).status_code == 201


def test_unknown_token_is_404(create):
    assert error(create(token="tok_doesnotexist"), status=404)["code"] == "resource_missing"


def test_capture_amount_must_be_an_integer(api, create):
    payment = create().json()
    response = api.post(f"/api/payments/{payment['id']}/capture", {"amount": "5"}, format="json")
    assert error(response)["param"] == "amount"


def test_refund_reason_is_checked(api, create):
    payment = create(capture=True).json()
    response = api.post(f"/api/payments/{payment['id']}/refund", {"reason": "bored"}, format="json")
    assert error(response)["param"] == "reason"
