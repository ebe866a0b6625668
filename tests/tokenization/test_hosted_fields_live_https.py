"""Live publishable keys embed the hosted card fields in https:// pages only; test keys may use
http://localhost while a developer builds the checkout."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from merchants import services

pytestmark = pytest.mark.django_db
HTTP_SHOP = "http://shop.example"
HTTPS_SHOP = "https://shop.example"


@pytest.fixture
def keys(merchant):
    merchant.merchant.allowed_origins = [HTTP_SHOP, HTTPS_SHOP]
    merchant.merchant.save(update_fields=["allowed_origins"])
    live = services.create_api_key(merchant=merchant.merchant, kind="publishable", livemode=True)
    return {"test": merchant.publishable, "live": live.plaintext}


def fields(key: str, origin: str):
    return Client().get("/hosted/fields?" + urlencode({"key": key, "origin": origin}))


def test_a_live_key_is_refused_for_an_http_origin(keys):
    response = fields(keys["live"], HTTP_SHOP)
    assert response.status_code == 403
    assert b"https://" in response.content
    assert b"<script" not in response.content
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_a_live_key_is_served_to_an_https_origin(keys):
    response = fields(keys["live"], HTTPS_SHOP)
    assert response.status_code == 200
    assert f"frame-ancestors {HTTPS_SHOP}" in response["Content-Security-Policy"]


def test_a_test_key_may_use_an_http_origin(keys):
    assert fields(keys["test"], HTTP_SHOP).status_code == 200
