"""Adyen as a routed provider, configured only by environment variables: a lost /payments
answer stays unknown (Adyen has no lookup by reference) until the HMAC-signed AUTHORISATION
notification arrives at /api/webhooks/adyen and settles it."""

from __future__ import annotations

import copy
import json

import pytest
from Adyen import util as adyen_util
from rest_framework.test import APIClient

from routing import services
from routing.interface import Outcome
from routing.models import Attempt, Provider
from routing.providers import invalidate
from tests.routing.conftest import RATED, card_token, payment_request
from tests.routing.replay import ReplayServer, load

HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"


@pytest.fixture
def adyen(db, monkeypatch):
    server = ReplayServer()
    for name, value in {
        "ADYEN_API_KEY": "AQE_test_key",
        "ADYEN_MERCHANT_ACCOUNT": "TestMerchant",
        "ADYEN_HMAC_KEYS": HMAC_KEY,
        "ADYEN_API_BASE": server.url,
    }.items():
        monkeypatch.setenv(name, value)
    invalidate()
    services.seed_providers()
    Provider.objects.filter(name="adyen").update(timeout_ms=500)
    invalidate()
    yield server
    server.close()


def _notification(reference: str, success: bool) -> bytes:
    payload = copy.deepcopy(load("adyen", "notification_authorisation")["notification"])
    item = payload["notificationItems"][0]["NotificationRequestItem"]
    item.update(merchantReference=reference, success="true" if success else "false")
    unsigned = {k: v for k, v in item.items() if k != "additionalData"}
    signature = adyen_util.generate_notification_sig(unsigned, HMAC_KEY).decode()
    item["additionalData"]["hmacSignature"] = signature
    return json.dumps(payload).encode()


def test_adyen_enabled_by_credentials_in_the_environment_authorizes(merchant, adyen):
    adyen.expect(load("adyen", "payments_authorised"))
    request = payment_request(
        merchant, token_id=card_token(merchant, RATED), exclude_providers=("sim-a", "sim-b")
    )

    outcome = services.authorize(request=request)

    assert (outcome.outcome, outcome.provider) == (Outcome.APPROVED, "adyen")
    assert outcome.provider_reference == "JVBXGSDM53RZNN82"
    sent = json.loads(adyen.received[0].body)
    assert sent["reference"] == outcome.attempt_id
    stored = Attempt.objects.get(pk=outcome.attempt_id)
    assert "4111111111111111" not in json.dumps(stored.raw)


def test_lost_adyen_answer_is_settled_by_the_authorisation_notification(
    merchant, adyen, resolved, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setenv("ROUTING_INQUIRY_MAX_TRIES", "2")
    adyen.expect(load("adyen", "payments_timeout"))
    request = payment_request(
        merchant, token_id=card_token(merchant, RATED), exclude_providers=("sim-a", "sim-b")
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.authorize(request=request)
    assert outcome.outcome == Outcome.TIMEOUT_UNKNOWN
    assert Attempt.objects.get(pk=outcome.attempt_id).outcome == "timeout_unknown"
    assert resolved.calls == []

    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/api/webhooks/adyen",
            data=_notification(outcome.attempt_id, success=True),
            content_type="application/json",
        )

    assert response.status_code == 200
    attempt = Attempt.objects.get(pk=outcome.attempt_id)
    assert (attempt.outcome, attempt.provider_reference) == ("approved", "JVBXGSDM53RZNN82")
    assert [(c[0], c[2].outcome) for c in resolved.calls] == [
        (outcome.attempt_id, Outcome.APPROVED)
    ]
