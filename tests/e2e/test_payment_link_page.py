"""Payment links in a real browser (headless Chromium, phone-sized): the link's QR code opens
its page; a card typed into the vault's hosted fields pays it; a bank transfer, completed
through the test helper, pays another; a Pix QR code counts down to its expiry; an expired link
refuses payment. Every request goes to our own server, every control has a name for screen
readers, and a screenshot of each ending is kept under test-artifacts/payment-links/.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from payments.models import Payment, PaymentLink
from tests.qr_reader import decode_qr_png

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "payment-links"
PHONE = {"width": 390, "height": 844}

# Every control without a name a screen reader could read: inputs without a label, buttons
# without text, frames without a title, images without alt text.
UNNAMED_CONTROLS = """() => {
  const named = (el) => (el.getAttribute('aria-label') || '').trim() ||
    (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest('label');
  const visible = (el) => !el.closest('[hidden]');
  return [
    ...[...document.querySelectorAll('input, select, textarea')].filter(e => !named(e)),
    ...[...document.querySelectorAll('button')].filter(e => !e.textContent.trim() && !named(e)),
    ...[...document.querySelectorAll('iframe')].filter(e => !e.title.trim()),
    ...[...document.querySelectorAll('img')].filter(e => !e.alt.trim()),
  ].filter(visible).map(e => e.outerHTML.slice(0, 120));
}"""


@pytest.fixture
def shop(live_server, merchant, providers, settings):
    """The merchant's API over HTTP at the live server, which is also PUBLIC_BASE_URL."""
    settings.PUBLIC_BASE_URL = live_server.url
    client = httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {merchant.secret}"},
        timeout=30,
    )
    yield client
    client.close()


@pytest.fixture
def phone(page, live_server):
    """The browser page, phone-sized, recording every request and console error."""
    page.set_viewport_size(PHONE)
    page.requests = []
    page.console_errors = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            page.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    yield page
    foreign = [url for url in page.requests if not url.startswith(live_server.url)]
    assert not foreign, f"requests to another origin: {foreign}"
    violations = [m for m in page.console_errors if "Content Security Policy" in m]
    assert not violations, violations


def create_link(shop, **body) -> dict:
    response = shop.post("/api/payment-links", json={"amount": 1999, "currency": "EUR", **body})
    assert response.status_code == 201, response.text
    return response.json()


def keep_screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_phone_friendly(page) -> None:
    assert page.evaluate(UNNAMED_CONTROLS) == []
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_qr_code_opens_the_page_and_a_card_in_the_hosted_fields_pays_it(
    shop, phone, merchant
) -> None:
    link = create_link(shop, description="Order 1042")
    # The QR code, as the browser renders it (PNG and SVG), reads back as the link's url.
    for image_url in (link["qr"]["png_url"], link["qr"]["svg_url"]):
        phone.goto(image_url)
        assert decode_qr_png(phone.screenshot()) == [link["url"]], image_url

    response = phone.goto(link["url"])
    assert response.status == 200
    assert phone.locator("#merchant").text_content() == merchant.merchant.name
    assert phone.locator("#amount").text_content() == "19.99 EUR"
    assert phone.get_by_role("radio", name="Card").is_checked()
    frame = phone.frame_locator("#card-frame")
    frame.locator("#number").wait_for()
    assert_phone_friendly(phone)
    keep_screenshot(phone, "card-form")

    frame.locator("#number").press_sequentially("4242 4242 4242 4242")
    frame.locator("#expiry").fill("12 / 34")
    frame.locator("#cvc").fill("123")
    frame.get_by_role("button", name="Pay", exact=True).click()
    phone.locator("#paid").wait_for(state="visible")
    assert phone.locator("#status").text_content() == "Paid."
    assert phone.locator("#pay").is_hidden()
    keep_screenshot(phone, "card-paid")

    payment = Payment.objects.get(payment_link_id=link["id"])
    assert (payment.status, payment.method_type, payment.amount_captured_minor) == (
        "captured",
        "card",
        1999,
    )
    assert shop.get(f"/api/payment-links/{link['id']}").json()["status"] == "paid"
    # The card number never reached the link's page, only the vault's frame.
    assert "4242 4242 4242 4242" not in phone.content()


def test_a_bank_transfer_shown_on_the_page_pays_the_link_when_the_money_arrives(
    shop, phone, settings
) -> None:
    link = create_link(shop, amount=25000)
    phone.goto(link["url"])
    phone.get_by_role("radio", name="Bank transfer").check()
    phone.get_by_role("button", name="Show the bank details").click()
    reference = phone.locator("#bank-reference")
    reference.wait_for(state="visible")
    account = settings.COLLECTION_ACCOUNTS["test"]
    assert phone.locator("#bank-iban").text_content().replace(" ", "") == account["iban"]
    assert phone.locator("#bank-bic").text_content() == account["bic"]
    assert phone.locator("#bank-name").text_content() == account["name"]
    assert phone.locator("#bank-amount").text_content() == "250.00 EUR"
    assert re.fullmatch(r"RF\d\d[0-9A-Z]+", reference.text_content())
    # The EPC QR code a banking app scans names the same account, amount and reference.
    qr = phone.locator("#bank-qr")
    qr.wait_for(state="visible")
    phone.wait_for_function("() => document.getElementById('bank-qr').naturalWidth > 0")
    (epc,) = decode_qr_png(qr.screenshot())
    lines = epc.split("\n")
    assert lines[:4] == ["BCD", "002", "1", "SCT"]
    assert (lines[4], lines[5], lines[6]) == (account["bic"], account["name"], account["iban"])
    assert lines[7].startswith("EUR") and Decimal(lines[7][3:]) == Decimal("250")
    assert reference.text_content() in lines
    assert_phone_friendly(phone)
    keep_screenshot(phone, "bank-transfer-details")

    payment = Payment.objects.get(payment_link_id=link["id"])
    paid = shop.post(f"/api/test_helpers/payments/{payment.id}/simulate_payment", json={})
    assert paid.status_code == 200, paid.text
    phone.locator("#paid").wait_for(state="visible")  # the page's next poll
    assert phone.locator("#status").text_content() == "Paid."
    keep_screenshot(phone, "bank-transfer-paid")
    assert Payment.objects.get(pk=payment.id).status == "captured"


def test_a_scheme_qr_is_shown_with_its_countdown(shop, phone) -> None:
    link = create_link(shop, amount=5000, currency="BRL")
    phone.goto(link["url"])
    phone.get_by_role("radio", name="Pix").check()
    phone.get_by_role("button", name="Show the QR code").click()
    image = phone.locator("#qr-image")
    image.wait_for(state="visible")
    phone.wait_for_function("() => document.getElementById('qr-image').naturalWidth > 0")
    (payload,) = decode_qr_png(image.screenshot())
    assert payload.startswith("000201") and "BR.GOV.BCB.PIX" in payload.upper()
    countdown = phone.get_by_role("timer")
    assert re.fullmatch(r"This code expires in \d+:\d\d\.", countdown.text_content())
    assert_phone_friendly(phone)
    keep_screenshot(phone, "pix-qr")


def test_an_expired_link_refuses_payment(shop, phone) -> None:
    link = create_link(shop)
    PaymentLink.objects.filter(pk=link["id"]).update(expires_at=timezone.now())
    response = phone.goto(link["url"])
    assert response.status == 410
    assert phone.locator("#unavailable").is_visible()
    assert "has expired" in phone.locator("#unavailable-message").text_content()
    assert phone.locator("input[name=method]").count() == 0
    assert phone.locator("#card-frame").count() == 0
    assert_phone_friendly(phone)
    keep_screenshot(phone, "expired")

    # A payment sent anyway (an old tab, a crafted request) is refused.
    csrf = next(c["value"] for c in phone.context.cookies() if c["name"] == "csrftoken")
    refused = phone.request.post(
        f"{link['url']}/collect",
        data={"method": "bank_transfer"},
        headers={"X-CSRFToken": csrf, "Referer": link["url"]},
    )
    assert refused.status == 400
    assert refused.json()["error"]["code"] == "payment_link_expired"
    assert not Payment.objects.filter(payment_link_id=link["id"]).exists()
