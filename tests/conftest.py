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


@pytest.fixture(autouse=True)
def _fresh_ledger_account_cache():
    """The ledger caches account ids in-process once their creation commits. A test that runs
    on-commit callbacks inside its rolled-back transaction would leave ids of accounts that no
    longer exist; start every test with an empty cache."""
    from ledger import services as ledger_services

    ledger_services.forget_cached_accounts()


@pytest.fixture(autouse=True)
def _fresh_provider_memo():
    """Routing memoizes provider configurations, profiles and rules in-process for up to a
    second; every test starts from its own database, so it starts without another test's."""
    from routing import providers, strategies

    providers.forget_process_memo()
    strategies.forget_process_memo()


@pytest.fixture(autouse=True)
def _fresh_fraud_rules(request, settings):
    """Every test sees the default fraud ruleset, freshly compiled.

    The defaults are seeded by a data migration; a `transaction=True` test ends with a flush
    that deletes them, so such tests seed them again. The in-process rule and FX caches are
    emptied so no test evaluates another test's rules."""
    from fraud import fx, rules

    settings.FRAUD_RULES_RECHECK_S = 0
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        from fraud.defaults import seed_default_rules, seed_fx_rates
        from fraud.models import FxRate, Rule

        request.getfixturevalue("transactional_db")
        seed_default_rules(Rule)
        seed_fx_rates(FxRate)
    rules.reset_cache()
    fx.reset_cache()
    yield
    rules.reset_cache()
