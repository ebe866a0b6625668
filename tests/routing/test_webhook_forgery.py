"""Incoming provider events cannot be forged or replayed: no public simulator secret outside
development and test, an event acts only on its own provider's attempts and only for the
attempt's amount and currency, and Adyen notifications are deduplicated on signed fields,
checked for our merchant account and, when configured, for HTTP Basic credentials."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from Adyen import util as adyen_util
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from prometheus_client import REGISTRY
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from payments.handlers import on_provider_payment_event
from payments.models import Payment
from routing import events, services
from routing.conf import DEFAULT_SIM_WEBHOOK_SECRET
from routing.models import Attempt, IncomingEvent, Provider
from routing.providers import invalidate
from tests.routing.conftest import THREE_DS, card_token
from tests.routing.replay import ReplayServer, load

ROOT = Path(__file__).resolve().parents[2]
HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
OWN_SECRET = "whsec_" + base64.b64encode(b"a-secret-of-our-own-0123456789ab").decode()
CAPTURE_PSP = "QJHM7LJ5WV6M8Z82"
PAYMENT_PSP = "JVBXGSDM53RZNN82"


def _rejected_count(provider: str, reason: str) -> float:
    sample = REGISTRY.get_sample_value(
        "qr_routing_webhook_events_rejected_total", {"provider": provider, "reason": reason}
    )
    return sample or 0.0


def _attempt(merchant, *, provider: str = "sim-a", outcome: str = "requires_action", **fields):
    return Attempt.objects.create(
        kind=fields.pop("kind", "authorize"),
        payment_id=fields.pop("payment_id", f"pay_{uuid.uuid4().hex[:20]}"),
        merchant_id=merchant.merchant.id,
        provider=provider,
        method="card",
        currency=fields.pop("currency", "EUR"),
        amount_minor=fields.pop("amount_minor", 1000),
        outcome=outcome,
        **fields,
    )


# --- the simulator's secret ------------------------------------------------------------------


def _sim_event(reference: str, *, event_type: str = "payment.succeeded", **data) -> dict:
    return {
        "id": f"evt_sim_{uuid.uuid4().hex[:12]}",
        "type": event_type,
        "created": int(time.time()),
        "provider": "sim-a",
        "data": {"authorization_id": "sa_forged", "reference": reference, "amount": 1000,
                 "currency": "EUR", **data},
    }  # fmt: skip


def _post_sim(event: dict, *, secret: str = DEFAULT_SIM_WEBHOOK_SECRET, path: str = "sim-a"):
    body = json.dumps(event)
    at = dt.datetime.now(dt.UTC)
    return APIClient().post(
        f"/api/webhooks/{path}",
        data=body,
        content_type="application/json",
        HTTP_WEBHOOK_ID=event["id"],
        HTTP_WEBHOOK_TIMESTAMP=str(int(at.timestamp())),
        HTTP_WEBHOOK_SIGNATURE=Webhook(secret).sign(event["id"], at, body),
    )


def _production_env(**extra: str) -> dict[str, str]:
    def key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "VAULT_", "PSP_SIM", "TEST_DB"))
    }
    return {
        **inherited,
        "DJANGO_ENV": "production",
        "SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
        "ALLOWED_HOSTS": "pay.example",
        "PUBLIC_BASE_URL": "https://pay.example",
        "VAULT_KEYRING": f"v1:{key()}",
        "VAULT_ACTIVE_KEY": "v1",
        "VAULT_FINGERPRINT_KEY": key(),
        "WEBHOOK_SECRET_KEY": key(),
        "REFUND_ID_KEY": key(),
        "REDIS_URL": "redis://127.0.0.1:6379/9",
        # No server behind this address: the settings are what is checked.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",
        **extra,
    }


def _manage_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_production_does_not_start_with_the_public_simulator_secret():
    public = _manage_check(_production_env(PSP_SIM_WEBHOOK_SECRETS=DEFAULT_SIM_WEBHOOK_SECRET))
    own = _manage_check(_production_env(PSP_SIM_WEBHOOK_SECRETS=OWN_SECRET))

    assert public.returncode != 0
    assert "PSP_SIM_WEBHOOK_SECRETS holds the simulator's public development secret" in (
        public.stderr
    )
    assert own.returncode == 0, own.stderr


def test_without_a_configured_secret_an_event_signed_with_the_public_one_is_refused(
    merchant, providers, settings, monkeypatch, payment_events
):
    # What base and production settings give: no simulator secret at all.
    settings.PSP_SIM_WEBHOOK_SECRETS = []
    monkeypatch.delenv("PSP_SIM_WEBHOOK_SECRETS", raising=False)
    attempt = _attempt(merchant)

    response = _post_sim(_sim_event(attempt.id))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert not IncomingEvent.objects.exists()
    attempt.refresh_from_db()
    assert attempt.outcome == "requires_action"


def test_production_check_names_each_missing_setting_of_an_enabled_provider(
    providers, settings, monkeypatch
):
    settings.PROVIDER_WEBHOOK_CREDENTIALS_REQUIRED = True
    settings.PSP_SIM_WEBHOOK_SECRETS = []
    monkeypatch.delenv("PSP_SIM_WEBHOOK_SECRETS", raising=False)
    for name in ("ADYEN_API_KEY", "ADYEN_MERCHANT_ACCOUNT", "ADYEN_HMAC_KEYS"):
        monkeypatch.setenv(name, "set")
    for name in ("ADYEN_WEBHOOK_USERNAME", "ADYEN_WEBHOOK_PASSWORD", "STRIPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    Provider.objects.filter(name="adyen").update(enabled=True)
    Provider.objects.filter(name="stripe").update(enabled=False)

    with pytest.raises(SystemCheckError) as failed:
        call_command("check")

    message = str(failed.value)
    assert "PSP_SIM_WEBHOOK_SECRETS is not set: provider 'sim-a'" in message
    assert "ADYEN_WEBHOOK_USERNAME is not set: provider 'adyen'" in message
    assert "ADYEN_WEBHOOK_PASSWORD is not set" in message
    assert "ADYEN_HMAC_KEYS" not in message
    assert "STRIPE" not in message  # disabled

    monkeypatch.setenv("PSP_SIM_WEBHOOK_SECRETS", OWN_SECRET)
    monkeypatch.setenv("ADYEN_WEBHOOK_USERNAME", "adyen-notifications")
    monkeypatch.setenv("ADYEN_WEBHOOK_PASSWORD", "a-long-random-password")
    call_command("check")  # nothing missing: no error


# --- an event acts only on its own provider's attempts -------------------------------------


def test_event_naming_another_providers_attempt_is_rejected_and_changes_nothing(
    merchant, providers, payment_events, django_capture_on_commit_callbacks, caplog
):
    adyen_attempt = _attempt(merchant, provider="adyen")
    before = _rejected_count("sim-a", "provider_mismatch")
    event = _sim_event(adyen_attempt.id)  # signed by sim-a, naming an Adyen attempt

    with (
        caplog.at_level(logging.ERROR, logger="qr.routing.webhooks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = _post_sim(event)

    assert response.status_code == 200
    row = IncomingEvent.objects.get(event_id=event["id"])
    assert row.status == "rejected"
    assert row.last_error == (
        f"provider_mismatch: names attempt {adyen_attempt.id} of provider adyen"
    )
    adyen_attempt.refresh_from_db()
    assert (adyen_attempt.outcome, adyen_attempt.provider_reference) == ("requires_action", "")
    assert payment_events.events == []
    assert any(event["id"] in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert _rejected_count("sim-a", "provider_mismatch") == before + 1
    # A rejected event stays rejected: processing it again changes nothing.
    assert services.process_incoming_event(event_pk=row.pk) == "rejected"


def test_dispute_event_naming_another_providers_attempt_is_rejected(
    merchant, providers, django_capture_on_commit_callbacks
):
    notices = []
    events.register_dispute_handler(notices.append)
    adyen_attempt = _attempt(merchant, provider="adyen", outcome="approved")
    event = {
        "id": f"evt_sim_{uuid.uuid4().hex[:12]}",
        "type": "dispute.funds_withdrawn",
        "created": int(time.time()),
        "provider": "sim-a",
        "data": {"id": "sdp_forged", "authorization_id": "sa_1", "reference": adyen_attempt.id,
                 "amount": 1000, "currency": "EUR", "reason": "fraudulent",
                 "status": "needs_response", "fee": 1500},
    }  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        assert _post_sim(event).status_code == 200

    assert IncomingEvent.objects.get(event_id=event["id"]).status == "rejected"
    assert notices == []


def test_a_dispute_notice_carries_the_provider_of_the_endpoint_that_verified_it(
    merchant, providers, django_capture_on_commit_callbacks
):
    notices = []
    events.register_dispute_handler(notices.append)
    event = {
        "id": f"evt_sim_{uuid.uuid4().hex[:12]}",
        "type": "dispute.opened",
        "created": int(time.time()),
        "provider": "sim-b",
        "data": {"id": "sdp_1", "authorization_id": "sb_1", "reference": "", "amount": 1000,
                 "currency": "EUR", "reason": "fraudulent", "status": "needs_response"},
    }  # fmt: skip

    # Signed for sim-b: sim-a's endpoint refuses it; the simulator alias gives it to sim-b.
    assert _post_sim(event, path="sim-a").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert _post_sim(event, path="simulator").status_code == 200

    assert [n.provider for n in notices] == ["sim-b"]


# --- amount and currency ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason", "why"),
    [
        ({"amount": 9000}, "amount_mismatch", "states 9000, attempt {id} is for 1000"),
        ({"currency": "USD"}, "currency_mismatch", "states USD, attempt {id} is in EUR"),
    ],
)
def test_event_of_another_amount_or_currency_is_rejected_with_an_alert(
    merchant,
    providers,
    payment_events,
    django_capture_on_commit_callbacks,
    caplog,
    changes,
    reason,
    why,
):
    attempt = _attempt(merchant)
    before = _rejected_count("sim-a", reason)
    event = _sim_event(attempt.id, **changes)

    with (
        caplog.at_level(logging.ERROR, logger="qr.routing.webhooks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert _post_sim(event).status_code == 200

    row = IncomingEvent.objects.get(event_id=event["id"])
    assert (row.status, row.last_error) == ("rejected", f"{reason}: {why.format(id=attempt.id)}")
    attempt.refresh_from_db()
    assert attempt.outcome == "requires_action"
    assert payment_events.events == []
    [alert] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert event["id"] in alert.getMessage() and reason in alert.getMessage()
    assert _rejected_count("sim-a", reason) == before + 1


def test_payment_stays_waiting_for_3ds_when_the_event_states_another_amount(
    merchant, providers, api, django_capture_on_commit_callbacks
):
    events.register_webhook_handler("payment.", on_provider_payment_event)
    created = api.post(
        "/api/payments",
        {"token": card_token(merchant, THREE_DS), "amount": 2000, "currency": "eur"},
        format="json",
    )
    assert created.status_code in (200, 201), created.content
    payment = Payment.objects.get(pk=created.json()["id"])
    assert payment.status == "requires_action"

    with django_capture_on_commit_callbacks(execute=True):
        _post_sim(_sim_event(payment.attempt_id, amount=1, authorization_id="sa_x"))
    assert api.get(f"/api/payments/{payment.id}").json()["status"] == "requires_action"

    # The same event with the payment's amount settles it: the refusal was the amount.
    with django_capture_on_commit_callbacks(execute=True):
        _post_sim(_sim_event(payment.attempt_id, amount=2000, authorization_id="sa_x"))
    assert api.get(f"/api/payments/{payment.id}").json()["status"] != "requires_action"


# --- Adyen -----------------------------------------------------------------------------------


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
    for name in ("ADYEN_WEBHOOK_USERNAME", "ADYEN_WEBHOOK_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    invalidate()
    services.seed_providers()
    invalidate()
    yield server
    server.close()


def _notification(reference: str, **fields) -> bytes:
    payload = copy.deepcopy(load("adyen", "notification_authorisation")["notification"])
    item = payload["notificationItems"][0]["NotificationRequestItem"]
    fields = {"amount": {"currency": "EUR", "value": 1000}, **fields}
    item.update(merchantReference=reference, **fields)
    unsigned = {k: v for k, v in item.items() if k != "additionalData"}
    item["additionalData"]["hmacSignature"] = adyen_util.generate_notification_sig(
        unsigned, HMAC_KEY
    ).decode()
    return json.dumps(payload).encode()


def _post_adyen(body: bytes, **headers):
    return APIClient().post(
        "/api/webhooks/adyen", data=body, content_type="application/json", **headers
    )


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_adyen_replay_with_another_event_date_is_a_duplicate(
    merchant, adyen, django_capture_on_commit_callbacks
):
    attempt = _attempt(merchant, provider="adyen", outcome="timeout_unknown")
    with django_capture_on_commit_callbacks(execute=True):
        first = _post_adyen(_notification(attempt.id, eventDate="2026-11-26T08:00:00+01:00"))
        replay = _post_adyen(_notification(attempt.id, eventDate="2026-12-01T08:00:00+01:00"))

    assert first.json() == {"received": 1, "duplicates": 0}
    assert replay.json() == {"received": 0, "duplicates": 1}
    assert IncomingEvent.objects.get().event_id == f"{PAYMENT_PSP}:AUTHORISATION:true"
    attempt.refresh_from_db()
    assert attempt.outcome == "approved"


def test_adyen_capture_replays_do_not_flip_a_capture_once_recaptured(
    merchant, adyen, django_capture_on_commit_callbacks
):
    authorization = _attempt(merchant, provider="adyen", outcome="approved")
    capture = _attempt(
        merchant,
        provider="adyen",
        outcome="approved",
        kind="capture",
        parent=authorization,
        payment_id=authorization.payment_id,
        provider_reference=CAPTURE_PSP,
    )
    common = {"pspReference": CAPTURE_PSP, "originalReference": PAYMENT_PSP}

    def post(event_code: str, event_date: str) -> dict:
        body = _notification(authorization.id, eventCode=event_code, eventDate=event_date, **common)
        with django_capture_on_commit_callbacks(execute=True):
            return _post_adyen(body).json()

    assert post("CAPTURE", "2026-11-26T09:00:00Z")["received"] == 1
    assert post("CAPTURE", "2026-11-26T10:00:00Z")["duplicates"] == 1  # a copy, new date
    assert post("CAPTURE_FAILED", "2026-11-27T09:00:00Z")["received"] == 1
    capture.refresh_from_db()
    assert capture.decline_code == "capture_failed"
    assert post("CAPTURE_FAILED", "2026-11-27T10:00:00Z")["duplicates"] == 1
    # Adyen's recapture repeats every signed field of the first CAPTURE: accepted once, as
    # the answer to the failure.
    assert post("CAPTURE", "2026-11-28T09:00:00Z")["received"] == 1
    capture.refresh_from_db()
    assert (capture.outcome, capture.decline_code) == ("approved", "")

    # Copies of either, with fresh dates, change nothing any more.
    assert post("CAPTURE_FAILED", "2026-11-29T09:00:00Z")["duplicates"] == 1
    assert post("CAPTURE", "2026-11-29T10:00:00Z")["duplicates"] == 1
    capture.refresh_from_db()
    assert capture.outcome == "approved"
    assert IncomingEvent.objects.count() == 3


def test_adyen_notification_for_another_merchant_account_is_refused(merchant, adyen):
    attempt = _attempt(merchant, provider="adyen", outcome="timeout_unknown")

    response = _post_adyen(_notification(attempt.id, merchantAccountCode="SomeoneElsesAccount"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert not IncomingEvent.objects.exists()


@pytest.mark.parametrize(
    "authorization",
    [None, _basic("adyen-notifications", "wrong"), _basic("other", "a-long-random-password"),
     "Bearer a-long-random-password", "Basic !!not-base64!!"],
)  # fmt: skip
def test_adyen_notification_without_the_right_basic_credentials_is_a_401(
    merchant, adyen, monkeypatch, authorization
):
    monkeypatch.setenv("ADYEN_WEBHOOK_USERNAME", "adyen-notifications")
    monkeypatch.setenv("ADYEN_WEBHOOK_PASSWORD", "a-long-random-password")
    attempt = _attempt(merchant, provider="adyen", outcome="timeout_unknown")
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}

    response = _post_adyen(_notification(attempt.id), **headers)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["error"]["code"] == "webhook_unauthenticated"
    assert not IncomingEvent.objects.exists()


def test_adyen_notification_with_the_right_basic_credentials_is_accepted(
    merchant, adyen, monkeypatch
):
    monkeypatch.setenv("ADYEN_WEBHOOK_USERNAME", "adyen-notifications")
    monkeypatch.setenv("ADYEN_WEBHOOK_PASSWORD", "a-long-random-password")
    attempt = _attempt(merchant, provider="adyen", outcome="timeout_unknown")

    response = _post_adyen(
        _notification(attempt.id),
        HTTP_AUTHORIZATION=_basic("adyen-notifications", "a-long-random-password"),
    )

    assert response.status_code == 200


def test_production_refuses_adyen_notifications_when_no_basic_credentials_are_set(
    merchant, adyen, settings
):
    settings.PROVIDER_WEBHOOK_CREDENTIALS_REQUIRED = True

    response = _post_adyen(_notification("att_any"))

    assert response.status_code == 401


def test_adyen_unsigned_fields_do_not_decide_the_outcome(
    merchant, adyen, django_capture_on_commit_callbacks
):
    attempt = _attempt(merchant, provider="adyen", outcome="timeout_unknown")
    body = json.loads(_notification(attempt.id))
    item = body["notificationItems"][0]["NotificationRequestItem"]
    # Added after signing: the HMAC does not cover them, and they change nothing it decides.
    item["reason"] = "Refused"
    item["additionalData"]["refusalReasonCode"] = "2"

    with django_capture_on_commit_callbacks(execute=True):
        assert _post_adyen(json.dumps(body).encode()).status_code == 200

    attempt.refresh_from_db()
    assert attempt.outcome == "approved"


def test_adyen_amount_mismatch_is_rejected(merchant, adyen, django_capture_on_commit_callbacks):
    attempt = _attempt(merchant, provider="adyen", outcome="timeout_unknown")

    with django_capture_on_commit_callbacks(execute=True):
        _post_adyen(_notification(attempt.id, amount={"currency": "EUR", "value": 100}))

    assert IncomingEvent.objects.get().status == "rejected"
    attempt.refresh_from_db()
    assert attempt.outcome == "timeout_unknown"
