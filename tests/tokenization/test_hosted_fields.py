"""The hosted card fields page: origin check, strict headers, our own SRI-pinned scripts."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.test import Client

from tokenization.views import normalize_origin

pytestmark = pytest.mark.django_db
SHOP = "https://shop.example"
STATIC_DIR = Path(__file__).resolve().parents[2] / "tokenization" / "static"


@pytest.fixture
def shop(merchant):
    merchant.merchant.allowed_origins = [SHOP, "http://127.0.0.1:8000"]
    merchant.merchant.save(update_fields=["allowed_origins"])
    return merchant


def _get(key: str, origin: str = SHOP):
    return Client().get("/hosted/fields?" + urlencode({"key": key, "origin": origin}))


def test_page_renders_for_an_allowed_origin_with_a_strict_csp(shop) -> None:
    response = _get(shop.publishable)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        f"frame-ancestors {SHOP}",
        "form-action 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "X-Frame-Options" not in response  # framing is governed by frame-ancestors
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    html = response.content.decode()
    assert f'data-origin="{SHOP}"' in html


def test_every_script_is_ours_and_pinned_with_subresource_integrity(shop) -> None:
    html = _get(shop.publishable).content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "the page has its script"
    for attrs, inline in scripts:
        assert not inline.strip(), "no inline scripts (CSP forbids them anyway)"
        src = re.search(r'src="([^"]+)"', attrs).group(1)
        assert src.startswith("/hosted/assets/"), "only our own scripts, from our origin"
        integrity = re.search(r'integrity="([^"]+)"', attrs).group(1)
        body = (STATIC_DIR / "tokenization" / src.removeprefix("/hosted/assets/")).read_bytes()
        served = Client().get(src)
        assert served.status_code == 200 and served.content == body
        assert served["Content-Type"].startswith("text/javascript")
        expected = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
        assert integrity == expected
    inventory = (Path(__file__).resolve().parents[2] / "docs" / "script-inventory.md").read_text()
    for attrs, _ in scripts:
        name = re.search(r'src="/hosted/assets/([^"]+)"', attrs).group(1)
        assert name in inventory, f"{name} is missing from docs/script-inventory.md"


@pytest.mark.parametrize("name", ["../../config/settings/base.py", "nope.js", "hosted-fields.js/"])
def test_only_the_listed_assets_are_served(name) -> None:
    assert Client().get(f"/hosted/assets/{name}").status_code == 404


def test_an_origin_not_allowed_for_the_merchant_is_refused(shop) -> None:
    response = _get(shop.publishable, origin="https://evil.example")
    assert response.status_code == 403
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert b"<script" not in response.content


@pytest.mark.parametrize("key", ["", "pk_test_nope"])
def test_a_missing_or_unknown_key_is_refused(shop, key) -> None:
    assert _get(key).status_code == 401


def test_a_secret_key_in_the_url_is_refused(shop) -> None:
    response = _get(shop.secret)
    assert response.status_code == 400
    assert b"publishable" in response.content


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://Shop.Example:443/", "https://shop.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://shop.example/path", None),
        ("javascript:alert(1)", None),
        ("", None),
    ],
)
def test_origins_are_normalized_before_comparison(value, origin) -> None:
    assert normalize_origin(value) == origin


def test_demo_checkout_embeds_the_fields_from_the_vault_origin(shop) -> None:
    response = Client().get(
        "/demo/checkout?" + urlencode({"key": shop.publishable, "vault": "http://localhost:9"})
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="http://localhost:9/hosted/fields?key=pk_test_' in html
    assert "frame-src http://localhost:9" in response["Content-Security-Policy"]
    assert 'integrity="sha384-' in html


def test_demo_checkout_uses_the_seeded_demo_key_in_development(
    shop, settings, tmp_path, monkeypatch
) -> None:
    (tmp_path / "demo_keys.json").write_text(
        f'{{"secret": "{shop.secret}", "publishable": "{shop.publishable}"}}'
    )
    settings.LOCAL_DIR = tmp_path
    monkeypatch.setenv("DJANGO_ENV", "development")
    html = Client().get("/demo/checkout").content.decode()
    assert f"key={shop.publishable}" in html
    assert shop.secret not in html


def test_demo_checkout_is_off_in_production(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.delenv("VAULT_DEMO_CHECKOUT", raising=False)
    assert Client().get("/demo/checkout").status_code == 404
