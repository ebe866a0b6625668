"""Provider SLIs from stored attempts, provider metadata caching, the seed, and the admin."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from routing import selectors, services
from routing.models import Attempt, Provider
from routing.providers import CACHE_KEY, provider_configs


def _attempt(provider: str, outcome: str, latency_ms: int, currency: str = "EUR") -> None:
    Attempt.objects.create(
        kind="authorize", payment_id=f"pay_{provider}_{latency_ms}_{outcome}", merchant_id="m",
        provider=provider, method="card", currency=currency, amount_minor=100,
        outcome=outcome, latency_ms=latency_ms,
    )  # fmt: skip


def test_auth_stats_count_approvals_and_p95_latency_per_provider(db):
    for latency_ms in range(1, 101):  # 1..100 ms, every 4th declined
        _attempt("sim-a", "hard_decline" if latency_ms % 4 == 0 else "approved", latency_ms)
    _attempt("sim-b", "approved", 40, currency="USD")

    stats = selectors.auth_stats(since=timezone.now() - dt.timedelta(hours=1), bucket_s=3600)

    by_provider = {(s.provider, s.currency): s for s in stats}
    sim_a = by_provider[("sim-a", "EUR")]
    assert (sim_a.count, sim_a.approved) == (100, 75)
    assert sim_a.latency_ms_p95 == pytest.approx(95.05)
    assert by_provider[("sim-b", "USD")].count == 1


def test_seed_is_idempotent_and_keeps_staff_edits(db, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("ADYEN_API_KEY", "AQE_test")
    services.seed_providers()
    Provider.objects.filter(name="sim-a").update(priority=9)

    services.seed_providers()

    rows = {p.name: p for p in Provider.objects.all()}
    assert set(rows) == {"sim-a", "sim-b", "stripe", "adyen"}
    assert rows["sim-a"].priority == 9
    assert (rows["stripe"].enabled, rows["adyen"].enabled) == (False, True)
    assert all("KEY" not in str(p.fee_schedule) for p in rows.values())


def test_provider_metadata_is_cached_and_invalidated_on_save(db):
    services.seed_providers()
    assert provider_configs()["sim-a"].priority == 1
    assert cache.get(CACHE_KEY) is not None

    Provider.objects.filter(name="sim-a").update(priority=5)  # bypasses save: cache stays
    assert provider_configs()["sim-a"].priority == 1
    provider = Provider.objects.get(name="sim-a")
    provider.priority = 7
    provider.save()

    assert provider_configs()["sim-a"].priority == 7


@pytest.mark.parametrize(
    "page",
    ["provider", "routingprofile", "routingrule", "decision", "attempt", "breakerstate",
     "incomingevent"],
)  # fmt: skip
def test_admin_pages_render(db, page):
    services.seed_providers()
    _attempt("sim-a", "approved", 10)
    staff = User.objects.create_superuser("ops", "ops@example.com", "pw-not-used")
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.force_login(staff)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # as after a verified second factor
    session.save()

    response = client.get(f"/admin/routing/{page}/")

    assert response.status_code == 200
