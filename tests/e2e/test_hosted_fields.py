"""Hosted card fields in a real browser: the card is typed in the vault's iframe, the merchant's
page gets a token and never the number."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode, urlsplit

import pytest

from tokenization.models import Token

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NUMBER = "4242424242424242"
TYPED = "4242 4242 4242 4242"

# Runs in every frame before any page script: records every message the window receives.
RECORD_MESSAGES = """
window.__received = [];
window.addEventListener("message", function (event) {
  window.__received.push({origin: event.origin, data: JSON.stringify(event.data)});
});
"""


@pytest.fixture
def checkout(live_server, merchant, page):
    """The demo shop on http://127.0.0.1:PORT, the vault on http://localhost:PORT: two
    origins, as in production, so the browser isolates the iframe from the shop."""
    vault = live_server.url.replace("127.0.0.1", "localhost")
    port = urlsplit(vault).port
    shop_origin = f"http://127.0.0.1:{port}"
    merchant.merchant.allowed_origins = [shop_origin]
    merchant.merchant.save(update_fields=["allowed_origins"])
    shop_requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            shop_requests.append(f"{request.url} {request.post_data or ''}")
            if request.url.startswith(shop_origin)
            else None
        ),
    )
    token_requests: list[dict[str, str]] = []
    page.on(
        "request",
        lambda request: (
            token_requests.append(request.headers)
            if request.url.startswith(vault) and urlsplit(request.url).path == "/api/tokens"
            else None
        ),
    )
    console_errors: list[str] = []
    page.on(
        "console",
        lambda message: console_errors.append(message.text) if message.type == "error" else None,
    )
    page.add_init_script(RECORD_MESSAGES)
    query = urlencode({"key": merchant.publishable, "vault": vault})
    page.goto(f"{shop_origin}/demo/checkout?{query}")
    frame = page.frame_locator("#card-frame")
    frame.locator("#number").wait_for()
    page.console_errors = console_errors
    page.token_requests = token_requests
    return page, frame, shop_requests


def _fill(frame, *, number: str, expiry: str = "12 / 34", cvc: str = "123") -> None:
    frame.locator("#number").press_sequentially(number)
    frame.locator("#expiry").fill(expiry)
    frame.locator("#cvc").fill(cvc)
    frame.locator("#submit").click()


def test_a_typed_card_becomes_a_token_in_the_parent_page_which_never_sees_the_number(
    checkout, merchant
) -> None:
    page, frame, shop_requests = checkout
    _fill(frame, number=TYPED)
    # (wait_for_function would eval a string, which the page's CSP rightly forbids)
    page.locator("#token", has_text=re.compile(r"^tok_")).wait_for()
    token_id = page.locator("#token").text_content()
    token = Token.objects.get(pk=token_id)
    assert token.merchant_id == merchant.merchant.pk and token.card_last4 == "4242"

    received = page.evaluate("window.__received")
    assert len(received) == 1, received
    message = json.loads(received[0]["data"])
    # Only the token crosses into the merchant's page: no brand, last4, expiry or fingerprint.
    assert message == {"type": "qr-fields:token", "token": token_id}
    # The token POST carried a random Idempotency-Key (a retry replays instead of re-tokenizing).
    assert len(page.token_requests) == 1
    idempotency_key = page.token_requests[0].get("idempotency-key", "")
    assert re.fullmatch(r"hf_[0-9a-f]{32}", idempotency_key), page.token_requests[0]
    # Nothing the shop's page holds or sent contains the number.
    parent_html = page.evaluate("document.documentElement.outerHTML")
    parent_inputs = page.evaluate(
        "Array.from(document.querySelectorAll('input')).map(i => i.value).join('|')"
    )
    for haystack in (json.dumps(received), parent_html, parent_inputs, "\n".join(shop_requests)):
        assert NUMBER not in haystack and TYPED not in haystack
    # …and it could not have looked: the vault's frame is another origin.
    assert page.evaluate("document.getElementById('card-frame').contentDocument") is None
    assert frame.locator("#number").input_value() == ""
    # Our pages run under their CSP and SRI without a single violation.
    violations = [
        m for m in page.console_errors if "Content Security Policy" in m or "integrity" in m
    ]
    assert not violations, violations


def test_an_invalid_number_shows_an_inline_error_and_sends_nothing(checkout) -> None:
    page, frame, _ = checkout
    _fill(frame, number="4242 4242 4242 4241")
    error = frame.locator("#number-error")
    error.wait_for()
    assert frame.locator("#number-error").text_content() == "Your card number is invalid."
    assert page.evaluate("window.__received") == []
    assert not Token.objects.exists()


def test_a_card_refused_by_the_api_shows_its_error_inline(checkout) -> None:
    page, frame, _ = checkout
    _fill(frame, number=TYPED, expiry="01 / 21")
    expect_text = "Your card has expired."
    frame.locator("#expiry-error", has_text=expect_text).wait_for()
    assert page.evaluate("window.__received") == []
    assert not Token.objects.exists()
