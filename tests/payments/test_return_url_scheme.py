"""Where a customer is sent back after 3-D Secure (security review 5.2): an https URL in live
mode; test mode also takes http (a developer's local shop); no other scheme in either mode."""

from __future__ import annotations

import pytest

from tests.conftest import client_for
from tests.payments.conftest import GOOD_CARD


def create(client, return_url: str, token: str = "tok_unknown"):
    body = {"token": token, "amount": 1000, "currency": "eur", "return_url": return_url}
    return client.post("/api/payments", body, format="json")


@pytest.mark.parametrize(
    "return_url", ["http://shop.example/done", "ftp://shop.example/done", "ftps://shop.example/x"]
)
def test_live_mode_refuses_a_return_url_that_is_not_https(merchant, return_url):
    response = create(client_for(merchant.live_secret), return_url)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("return_url", "parameter_invalid")


def test_live_mode_takes_an_https_return_url(merchant):
    response = create(client_for(merchant.live_secret), "https://shop.example/done?order=7")
    # Past the return_url check: what stops it is the unknown token.
    assert response.json()["error"].get("param") != "return_url", response.content


@pytest.mark.parametrize("return_url", ["ftp://shop.example/done", "javascript:alert(1)"])
def test_test_mode_refuses_schemes_other_than_http_and_https(api, return_url):
    response = create(api, return_url)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "return_url"


def test_test_mode_takes_an_http_return_url(api, tokenize, providers):
    response = create(api, "http://127.0.0.1:3000/done", token=tokenize(GOOD_CARD))
    assert response.status_code == 201, response.content
