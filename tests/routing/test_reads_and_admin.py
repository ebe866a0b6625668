"""Provider SLIs from stored attempts, provider metadata caching, the seed, and the admin."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from routing import selectors, services
from routing.models import Attempt, Provider
from routing.providers import CACHE_KEY, PROCESS_MEMO_TTL_S, provider_configs


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
    Provider.objects.get(name="stripe").delete()
    assert "stripe" not in provider_configs()


def test_another_process_edit_is_seen_here_within_the_memo_ttl(db):
    services.seed_providers()
    assert provider_configs()["sim-a"].priority == 1

    # Another process saves sim-a: its receiver drops the shared entry, not this process's memo.
    Provider.objects.filter(name="sim-a").update(priority=4)
    cache.delete(CACHE_KEY)

    assert provider_configs()["sim-a"].priority == 1
    time.sleep(PROCESS_MEMO_TTL_S)
    assert provider_configs()["sim-a"].priority == 4


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


INVALID_FEE_SCHEDULES = [
    {"*": 290},  # a bare number where a rule belongs
    {"*": {"percent_bp": "2.9", "fixed_minor": 30}},  # a string
    {"*": {"percent_bp": 2.9, "fixed_minor": 30}},  # a float
    {"*": {"percent_bp": 290, "fixed_minor": -1}},
    {"*": {"percent_bp": 290}},  # a key missing
    {"*": {"percent": 290, "fixed_minor": 30}},  # a misspelt key
    {"EURO": {"percent_bp": 290, "fixed_minor": 30}},  # not a currency code
    {"*": {"percent_bp": True, "fixed_minor": 30}},
    [{"percent_bp": 290, "fixed_minor": 30}],  # not an object
]


@pytest.mark.parametrize("schedule", INVALID_FEE_SCHEDULES)
def test_model_validation_refuses_a_malformed_fee_schedule(db, schedule):
    provider = Provider(name="p1", kind="simulator", methods=["card"], fee_schedule=schedule)

    with pytest.raises(ValidationError) as refused:
        provider.full_clean()

    assert "fee_schedule" in refused.value.message_dict


def test_model_validation_accepts_a_schedule_per_currency_with_a_default(db):
    provider = Provider(
        name="p1",
        kind="simulator",
        methods=["card"],
        fee_schedule={"*": {"percent_bp": 290, "fixed_minor": 30},
                      "jpy": {"percent_bp": 300, "fixed_minor": 0}},
    )  # fmt: skip

    provider.full_clean()


def _staff_client() -> Client:
    staff = User.objects.create_superuser("ops", "ops@example.com", "pw-not-used")
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.force_login(staff)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # as after a verified second factor
    session.save()
    return client


def _provider_form(provider: Provider, fee_schedule: str) -> dict[str, str]:
    return {
        "name": provider.name, "kind": provider.kind, "enabled": "on",
        "methods": ",".join(provider.methods), "currencies": "", "brands": "",
        "fee_schedule": fee_schedule, "priority": str(provider.priority),
        "weight": str(provider.weight), "credentials_env": provider.credentials_env,
        "base_url": provider.base_url, "timeout_ms": str(provider.timeout_ms),
    }  # fmt: skip


def test_admin_refuses_a_malformed_fee_schedule_and_payments_keep_working(db):
    services.seed_providers()
    provider = Provider.objects.get(name="sim-a")
    before = provider.fee_schedule
    client = _staff_client()
    url = f"/admin/routing/provider/{provider.pk}/change/"

    refused = client.post(url, _provider_form(provider, '{"*": 290}'))
    accepted = client.post(
        url, _provider_form(provider, '{"*": {"percent_bp": 100, "fixed_minor": 5}}')
    )

    assert refused.status_code == 200  # the form again, with the error
    assert "fee_schedule" in refused.context["adminform"].form.errors
    assert accepted.status_code == 302
    provider.refresh_from_db()
    assert provider.fee_schedule == {"*": {"percent_bp": 100, "fixed_minor": 5}} != before
    assert provider_configs()["sim-a"].fee_minor(amount_minor=1000, currency="EUR") == 15


def test_provider_with_an_invalid_stored_fee_schedule_is_skipped_not_fatal(db, caplog):
    services.seed_providers()
    # Written around the model's validation (a script, a raw update).
    Provider.objects.filter(name="sim-a").update(fee_schedule={"*": {"percent_bp": "2.9"}})
    cache.delete(CACHE_KEY)

    with caplog.at_level(logging.ERROR, logger="qr.routing"):
        configs = provider_configs()

    assert "sim-a" not in configs and "sim-b" in configs
    assert any("sim-a" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_changelist_edit_of_priority_is_not_blocked_by_a_stored_bad_fee_schedule(db):
    services.seed_providers()
    Provider.objects.filter(name="sim-a").update(fee_schedule={"*": 290})  # around validation
    rows = list(Provider.objects.all())
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows)),
            "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000", "_save": "Save"}  # fmt: skip
    for index, row in enumerate(rows):
        data[f"form-{index}-id"] = str(row.pk)
        data[f"form-{index}-priority"] = str(row.priority + 1)
        data[f"form-{index}-weight"] = str(row.weight)
        if row.enabled:
            data[f"form-{index}-enabled"] = "on"

    response = _staff_client().post("/admin/routing/provider/", data)

    assert response.status_code == 302
    assert Provider.objects.get(name="sim-b").priority == 3
