"""Shared fixtures: merchants with real API keys, an API client that speaks our headers.

Every test runs against real PostgreSQL (DATABASE_URL, or the embedded server that the
settings start). Fixture plugins for live parts (the PSP simulator, a live server) live in
tests/fixtures/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# Every module in tests/fixtures/ is a fixture plugin (live simulator, live server, browser).
pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in Path(__file__).parent.joinpath("fixtures").glob("*.py")
    if path.stem != "__init__"
)

os.environ.setdefault("DJANGO_ENV", "test")


@dataclass
class MerchantKeys:
    merchant: object
    secret: str
    publishable: str
    live_secret: str


def make_merchant(name: str) -> MerchantKeys:
    from merchants import services

    merchant = services.get_or_create_merchant(name=name)
    return MerchantKeys(
        merchant=merchant,
        secret=services.create_api_key(merchant=merchant, kind="secret", livemode=False).plaintext,
        publishable=services.create_api_key(
            merchant=merchant, kind="publishable", livemode=False
        ).plaintext,
        live_secret=services.create_api_key(
            merchant=merchant, kind="secret", livemode=True
        ).plaintext,
    )


@pytest.fixture
def merchant(db) -> MerchantKeys:
    return make_merchant("Acme Shop")


@pytest.fixture
def other_merchant(db) -> MerchantKeys:
    return make_merchant("Globex Store")


@pytest.fixture
def api(merchant):
    """An API client authenticated with the merchant's test secret key."""
    return client_for(merchant.secret)


def client_for(key: str):
    """A DRF test client that sends `Authorization: Bearer <key>`."""
    from rest_framework.test import APIClient  # needs configured settings: import late

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client
