"""Payment links: the API (create, retrieve, list, deactivate, validation, scope), their QR
images, and the hosted page's server side (what it shows, what it refuses, the payments it
makes)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.utils import timezone

from merchants import selectors as merchant_selectors
from merchants import services as merchant_services
from payments.models import HostedPageKey, Payment, PaymentLink
from tests.conftest import client_for
from tests.qr_reader import decode_qr_png

pytestmark = pytest.mark.django_db

BASE_URL = "https://pay.example.test"
ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "tokenization" / "script_inventory.json"


@pytest.fixture(autouse=True)
def _public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL


def create_link(api, **body) -> dict:
    response = api.post(
        "/api/payment-links", {"amount": 1999, "currency": "eur", **body}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def expire(link_id: str) -> None:
    PaymentLink.objects.filter(pk=link_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def open_page(link: dict) -> tuple[Client, str, object]:
    """A browser-like client that enforces CSRF, the token the page gave it, and the page."""
    client = Client(enforce_csrf_checks=True)
    response = client.get(_path(link["url"]))
    token = client.cookies["csrftoken"].value
    return client, token, response


def _path(url: str) -> str:
    return url.removeprefix(BASE_URL)


def page_post(client: Client, token: str, link: dict, action: str, body: dict):
    return client.post(
        f"{_path(link['url'])}/{action}",
        body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )


# --- the API --------------------------------------------------------------------------------


def test_a_new_link_has_a_public_url_qr_images_and_the_default_methods(api) -> None:
    before = int(time.time())
    link = create_link(api, description="Invoice 117")
    assert re.fullmatch(r"plink_[0-9A-Za-z]{22}", link["id"])
    assert link["object"] == "payment_link"
    assert link["url"] == f"{BASE_URL}/l/{link['id']}"
    assert link["qr"] == {
        "png_url": f"{BASE_URL}/l/{link['id']}/qr.png",
        "svg_url": f"{BASE_URL}/l/{link['id']}/qr.svg",
    }
    assert (link["status"], link["amount"], link["currency"]) == ("active", 1999, "EUR")
    assert link["description"] == "Invoice 117"
    assert link["methods"] == ["card", "bank_transfer"]
    assert link["livemode"] is False
    assert before + 24 * 3600 - 5 <= link["expires_at"] <= int(time.time()) + 24 * 3600


def test_the_url_comes_from_the_setting_not_the_host_header(api, settings) -> None:
    settings.ALLOWED_HOSTS = ["*"]  # a host the deployment accepts, yet not where links point
    response = api.post(
        "/api/payment-links",
        {"amount": 500, "currency": "EUR"},
        format="json",
        HTTP_HOST="evil.example",
    )
    assert response.status_code == 201, response.content
    assert response.json()["url"].startswith(f"{BASE_URL}/l/plink_")
    assert "evil.example" not in response.content.decode()


def test_default_methods_follow_the_currency(api) -> None:
    assert create_link(api, currency="BRL")["methods"] == ["card", "qr:pix"]
    assert create_link(api, currency="USD")["methods"] == ["card"]
    assert create_link(api, currency="EUR", methods=["qr:emvco", "card", "card"])["methods"] == [
        "qr:emvco",
        "card",
    ]
    assert create_link(api, currency="INR", methods=["qr"])["methods"] == ["qr:upi"]


def test_a_link_is_retrieved_and_listed_newest_first_in_pages(api) -> None:
    created = [create_link(api, amount=100 + index) for index in range(3)]
    retrieved = api.get(f"/api/payment-links/{created[0]['id']}")
    assert retrieved.status_code == 200
    assert retrieved.json() == created[0]

    first = api.get("/api/payment-links?limit=2").json()
    assert first["object"] == "list" and first["url"] == "/api/payment-links"
    assert [item["id"] for item in first["data"]] == [created[2]["id"], created[1]["id"]]
    assert first["has_more"] is True
    rest = api.get(f"/api/payment-links?limit=2&starting_after={created[1]['id']}").json()
    assert [item["id"] for item in rest["data"]] == [created[0]["id"]]
    assert rest["has_more"] is False
    assert api.get("/api/payment-links?status=active").json()["error"]["param"] == "status"


def test_deactivating_a_link_is_reported_and_repeatable(api) -> None:
    link = create_link(api)
    for _ in range(2):
        response = api.post(f"/api/payment-links/{link['id']}/deactivate")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "deactivated"
    assert api.get(f"/api/payment-links/{link['id']}").json()["status"] == "deactivated"


def test_an_expired_link_reports_expired(api) -> None:
    link = create_link(api)
    expire(link["id"])
    assert api.get(f"/api/payment-links/{link['id']}").json()["status"] == "expired"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"amount": 0}, "amount", "parameter_invalid"),
        ({"amount": "1999"}, "amount", "parameter_invalid"),
        ({"amount": 10**12}, "amount", "parameter_invalid"),
        ({"currency": "XXX"}, "currency", "currency_unsupported"),
        ({"expires_at": 1_000_000_000}, "expires_at", "parameter_invalid"),
        ({"expires_at": int(time.time()) + 31 * 86400}, "expires_at", "parameter_invalid"),
        ({"methods": ["paypal"]}, "methods", "parameter_invalid"),
        ({"methods": []}, "methods", "parameter_invalid"),
        ({"methods": ["qr:pix"]}, "methods", "payment_method_unsupported"),
        ({"methods": ["qr:nope"]}, "methods", "parameter_invalid"),
        (
            {"currency": "USD", "methods": ["bank_transfer"]},
            "methods",
            "payment_method_unsupported",
        ),
        ({"currency": "USD", "methods": ["qr"]}, "methods", "payment_method_unsupported"),
        ({"colour": "red"}, "colour", "parameter_unknown"),
    ],
)
def test_invalid_requests_name_the_parameter(api, body, param, code) -> None:
    response = api.post(
        "/api/payment-links", {"amount": 1999, "currency": "EUR", **body}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert not PaymentLink.objects.exists()


def test_another_merchants_link_is_not_found(api, other_merchant) -> None:
    link = create_link(api)
    other = client_for(other_merchant.secret)
    for response in (
        other.get(f"/api/payment-links/{link['id']}"),
        other.post(f"/api/payment-links/{link['id']}/deactivate"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"
    assert other.get("/api/payment-links").json()["data"] == []
    assert api.get(f"/api/payment-links/{link['id']}").json()["status"] == "active"


def test_test_and_live_links_never_meet(api, merchant) -> None:
    live = client_for(merchant.live_secret)
    test_link = create_link(api)
    response = live.post("/api/payment-links", {"amount": 700, "currency": "USD"}, format="json")
    assert response.status_code == 201, response.content
    live_link = response.json()
    assert live_link["livemode"] is True and test_link["livemode"] is False
    assert live.get(f"/api/payment-links/{test_link['id']}").status_code == 404
    assert api.get(f"/api/payment-links/{live_link['id']}").status_code == 404
    assert [item["id"] for item in live.get("/api/payment-links").json()["data"]] == [
        live_link["id"]
    ]


def test_a_publishable_key_cannot_create_links(merchant) -> None:
    response = client_for(merchant.publishable).post(
        "/api/payment-links", {"amount": 1999, "currency": "EUR"}, format="json"
    )
    assert response.status_code == 403


def test_the_qr_images_are_public_and_decode_to_the_url(api) -> None:
    link = create_link(api)
    anonymous = Client()
    png = anonymous.get(_path(link["qr"]["png_url"]))
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert decode_qr_png(png.content) == [link["url"]]
    svg = anonymous.get(_path(link["qr"]["svg_url"]))
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert ElementTree.fromstring(svg.content).tag == "{http://www.w3.org/2000/svg}svg"
    assert anonymous.get("/l/plink_doesnotexist/qr.png").status_code == 404


# --- the hosted page ------------------------------------------------------------------------


def test_the_page_shows_merchant_amount_and_labelled_methods(api, merchant) -> None:
    link = create_link(api, description="Invoice 117")
    _, _, page = open_page(link)
    html = page.content.decode()
    assert page.status_code == 200
    assert merchant.merchant.name in html and "19.99 EUR" in html and "Invoice 117" in html
    for method, label in (("card", "Card"), ("bank_transfer", "Bank transfer")):
        assert re.search(rf'<input type="radio" name="method" id="method-{method}"', html)
        assert f'<label for="method-{method}">{label}</label>' in html
    assert 'title="Secure card fields"' in html
    assert "/hosted/fields?key=pk_test_" in html
    assert "script-src 'self'" in page["Content-Security-Policy"]
    # Nothing from another origin: every src and href is a path on this server.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), url


def test_an_amount_is_shown_with_the_currencys_decimals(api) -> None:
    link = create_link(api, amount=1999, currency="JPY")
    _, _, page = open_page(link)
    assert "1,999 JPY" in page.content.decode()


def test_an_unknown_link_is_a_404_page() -> None:
    response = Client().get("/l/plink_0000000000000000000000")
    assert response.status_code == 404
    assert "Payment link not found" in response.content.decode()


@pytest.mark.parametrize(
    ("ending", "message"),
    [
        ("expired", "This payment link has expired."),
        ("deactivated", "This payment link is no longer active."),
    ],
)
def test_an_ended_link_refuses_payment_with_a_clear_page(api, ending, message) -> None:
    link = create_link(api)
    client, token, _ = open_page(link)
    if ending == "expired":
        expire(link["id"])
    else:
        api.post(f"/api/payment-links/{link['id']}/deactivate")
    page = client.get(_path(link["url"]))
    assert page.status_code == 410
    html = page.content.decode()
    assert "Payment not possible" in html and message in html
    assert 'name="method"' not in html and "card-frame" not in html
    for action, body in (("collect", {"method": "bank_transfer"}), ("card", {"token": "tok_x"})):
        response = page_post(client, token, link, action, body)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == f"payment_link_{ending}"
    assert not Payment.objects.exists()
    assert client.get(f"{_path(link['url'])}/state").json()["status"] == ending


def test_the_page_posts_need_the_csrf_token(api) -> None:
    link = create_link(api)
    client, _, _ = open_page(link)
    response = client.post(
        f"{_path(link['url'])}/collect",
        {"method": "bank_transfer"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_a_bank_transfer_from_the_page_shows_the_account_and_keeps_one_reference(
    api, merchant, settings
) -> None:
    link = create_link(api)
    client, token, _ = open_page(link)
    first = page_post(client, token, link, "collect", {"method": "bank_transfer"})
    assert first.status_code == 201, first.content
    state = first.json()
    assert state["status"] == "active"
    bank = state["payment"]["bank_transfer"]
    account = settings.COLLECTION_ACCOUNTS["test"]
    assert bank["iban"].replace(" ", "") == account["iban"]
    assert (bank["bic"], bank["beneficiary_name"]) == (account["bic"], account["name"])
    assert re.fullmatch(r"RF\d\d[0-9A-Z]+", bank["reference"])
    assert bank["amount"] == "19.99 EUR"
    assert bank["qr_png_url"].startswith(BASE_URL)
    again = page_post(client, token, link, "collect", {"method": "bank_transfer"})
    assert again.json()["payment"]["id"] == state["payment"]["id"]
    payment = Payment.objects.get()
    assert (payment.payment_link_id, payment.status) == (link["id"], "requires_action")
    assert (payment.merchant_id, payment.livemode, payment.amount_minor) == (
        merchant.merchant.pk,
        False,
        1999,
    )


def test_a_method_the_link_does_not_offer_is_refused(api) -> None:
    link = create_link(api, methods=["card"])
    client, token, _ = open_page(link)
    response = page_post(client, token, link, "collect", {"method": "bank_transfer"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_method_unsupported"


def test_a_card_paid_on_the_page_completes_the_link_once(
    api, merchant, tokenize, providers
) -> None:
    link = create_link(api)
    client, token, _ = open_page(link)
    paid = page_post(client, token, link, "card", {"token": tokenize()})
    assert paid.status_code == 201, paid.content
    assert paid.json()["status"] == "paid"
    assert paid.json()["payment"]["status"] == "captured"
    payment = Payment.objects.get(payment_link_id=link["id"])
    assert (payment.status, payment.amount_captured_minor, payment.merchant_id) == (
        "captured",
        1999,
        merchant.merchant.pk,
    )
    assert api.get(f"/api/payment-links/{link['id']}").json()["status"] == "paid"
    again = page_post(client, token, link, "card", {"token": tokenize()})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_link_paid"
    assert Payment.objects.filter(payment_link_id=link["id"]).count() == 1


def test_a_declined_card_tells_the_customer_and_leaves_the_link_payable(
    api, tokenize, providers
) -> None:
    link = create_link(api)
    client, token, _ = open_page(link)
    declined = page_post(client, token, link, "card", {"token": tokenize("4000000000000002")})
    assert declined.status_code == 402, declined.content
    error = declined.json()["error"]
    assert error["type"] == "card_error" and error["message"] == "The card was declined."
    assert "payment" not in error  # the customer's page never gets the fraud assessment
    assert client.get(f"{_path(link['url'])}/state").json() == {
        "status": "active",
        "payment": None,
    }


def test_a_scheme_qr_from_the_page_shows_its_image_and_deadline(api, providers) -> None:
    link = create_link(api, amount=5000, currency="BRL")
    client, token, _ = open_page(link)
    response = page_post(client, token, link, "collect", {"method": "qr:pix"})
    assert response.status_code == 201, response.content
    qr = response.json()["payment"]["qr"]
    assert qr["scheme"] == "pix"
    assert qr["qr_png_url"].startswith(BASE_URL)
    assert int(time.time()) < qr["expires_at"] <= int(time.time()) + 24 * 3600
    image = Client().get(_path(qr["qr_png_url"]))
    (payload,) = decode_qr_png(image.content)
    assert payload.startswith("000201") and "BR.GOV.BCB.PIX" in payload.upper()
    assert Payment.objects.get().payment_link_id == link["id"]


def test_the_page_runs_only_our_pinned_script_listed_in_the_inventory(api) -> None:
    link = create_link(api)
    _, _, page = open_page(link)
    html = page.content.decode()
    pinned = json.loads(INVENTORY.read_text())["assets"]
    assets = re.findall(
        r'<(?:script src|link rel="stylesheet" href)="([^"]+)" integrity="([^"]+)"', html
    )
    assert len(assets) == 2 and not re.search(r"<script>|<style", html)
    for src, integrity in assets:
        name = "payments/" + src.removeprefix("/payment-link-assets/")
        assert integrity == pinned[name]
        served = Client().get(src)
        assert served.status_code == 200
        digest = base64.b64encode(hashlib.sha384(served.content).digest()).decode()
        assert f"sha384-{digest}" == integrity
    assert "payments/payment-link.js" in (ROOT / "docs" / "script-inventory.md").read_text()
    assert Client().get("/payment-link-assets/other.js").status_code == 404


def test_a_revoked_page_key_is_replaced_so_the_card_fields_keep_working(api) -> None:
    link = create_link(api)
    _, _, page = open_page(link)
    first_key = re.search(r"/hosted/fields\?key=(pk_test_\w+)", page.content.decode()).group(1)
    stored = HostedPageKey.objects.get()
    merchant_services.revoke_api_key(api_key_id=stored.api_key_id)
    _, _, page = open_page(link)
    second_key = re.search(r"/hosted/fields\?key=(pk_test_\w+)", page.content.decode()).group(1)
    assert second_key != first_key
    assert merchant_selectors.publishable_key_scope(key=second_key) is not None
    assert merchant_selectors.publishable_key_scope(key=first_key) is None


def test_a_retried_create_with_the_same_idempotency_key_makes_one_link(api) -> None:
    body = {"amount": 1999, "currency": "EUR"}
    first = api.post("/api/payment-links", body, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    again = api.post("/api/payment-links", body, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert PaymentLink.objects.count() == 1


def test_deactivate_takes_no_parameters(api) -> None:
    link = create_link(api)
    response = api.post(
        f"/api/payment-links/{link['id']}/deactivate", {"reason": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "reason"
    assert api.get(f"/api/payment-links/{link['id']}").json()["status"] == "active"


def test_the_vault_fields_accept_our_own_pages_as_parent_and_say_pay(api, merchant) -> None:
    assert merchant.merchant.allowed_origins == []
    link = create_link(api)
    _, _, page = open_page(link)
    fields_url = re.search(r'src="(/hosted/fields\?[^"]+)"', page.content.decode()).group(1)
    fields = Client().get(fields_url.replace("&amp;", "&"))
    assert fields.status_code == 200
    assert fields["Content-Security-Policy"].endswith(f"frame-ancestors {BASE_URL}")
    assert '<button id="submit" type="submit">Pay</button>' in fields.content.decode()
