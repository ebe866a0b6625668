"""Refund ids derived from an Idempotency-Key (the reference the provider deduplicates a retried
refund by) are keyed with REFUND_ID_KEY, not SECRET_KEY (security review 6.6): rotating
SECRET_KEY between a lost provider answer and the retry still refunds once. Production refuses
to start without the key."""

from __future__ import annotations

import pytest

from payments.services import _refund_id_for_key
from routing.models import Provider
from tests.merchants.test_admin_and_seed import production_env, run_manage


def refund(api, payment_id: str, key: str):
    return api.post(
        f"/api/payments/{payment_id}/refund",
        {"amount": 1200},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_retry_after_secret_key_rotation_sends_the_same_refund_reference(
    api, pay, providers, settings
):
    payment = pay(amount=5000, capture=True).json()
    provider = Provider.objects.get(name=payment["provider"])
    provider.timeout_ms = 300
    provider.save()
    providers.control(provider.name, timeout_rate=1.0, timeout_s=1.0)
    assert refund(api, payment["id"], "refund-rotation").status_code == 502  # answer lost
    providers.control(provider.name, timeout_rate=0.0)

    settings.SECRET_KEY = "rotated-secret-key-" + "r" * 50
    settings.SECRET_KEY_FALLBACKS = []
    retry = refund(api, payment["id"], "refund-rotation")

    assert retry.status_code == 200, retry.content
    record = next(
        r for r in providers.records(provider.name) if r["id"] == payment["provider_reference"]
    )
    assert record["amount_refunded"] == 1200, record["refunds"]  # not 2400
    assert api.get(f"/api/payments/{payment['id']}").json()["amount_refunded"] == 1200


def test_the_refund_id_is_keyed_by_refund_id_key_not_secret_key(api, pay, settings):
    payment = pay(amount=5000, capture=True).json()
    expected = _refund_id_for_key(payment["id"], "same-key")
    settings.SECRET_KEY = "rotated-secret-key-" + "r" * 50
    settings.SECRET_KEY_FALLBACKS = []
    assert refund(api, payment["id"], "same-key").json()["id"] == expected
    settings.REFUND_ID_KEY = "another-refund-id-key-" + "k" * 40
    assert _refund_id_for_key(payment["id"], "same-key") != expected


@pytest.mark.slow
def test_production_refuses_to_start_without_a_refund_id_key():
    result = run_manage("check", **{**production_env(), "REFUND_ID_KEY": ""})
    assert result.returncode != 0
    assert "REFUND_ID_KEY is not set" in result.stderr + result.stdout
