"""Adyen as a routed provider, configured only by environment variables: a lost /payments
answer stays unknown (Adyen has no lookup by reference) until the HMAC-signed AUTHORISATION
notification arrives at /api/webhooks/adyen and settles it."""

from __future__ import annotations

import copy
import json

import pytest
from Adyen import util as adyen_util
from rest_framework.test import APIClient

from routing import breaker, services
from routing.interface import Outcome
from routing.models import Attempt, IncomingEvent, Provider
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


def _notification(reference: str, success: bool, **fields) -> bytes:
    payload = copy.deepcopy(load("adyen", "notification_authorisation")["notification"])
    item = payload["notificationItems"][0]["NotificationRequestItem"]
    item.update(merchantReference=reference, success="true" if success else "false", **fields)
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
            # The amount of our payment: a notification of another amount is refused.
            data=_notification(
                outcome.attempt_id, success=True, amount={"currency": "EUR", "value": 1000}
            ),
            content_type="application/json",
        )

    assert response.status_code == 200
    attempt = Attempt.objects.get(pk=outcome.attempt_id)
    assert (attempt.outcome, attempt.provider_reference) == ("approved", "JVBXGSDM53RZNN82")
    assert [(c[0], c[2].outcome) for c in resolved.calls] == [
        (outcome.attempt_id, Outcome.APPROVED)
    ]


def _unknown_adyen_attempt(merchant) -> Attempt:
    return Attempt.objects.create(
        kind="authorize",
        payment_id="pay_adyen_lost",
        merchant_id=merchant.merchant.id,
        provider="adyen",
        method="card",
        currency="EUR",
        amount_minor=100,
        outcome="timeout_unknown",
    )


def test_still_unknown_status_inquiries_leave_the_breaker_closed(merchant, adyen, monkeypatch):
    monkeypatch.setenv("ROUTING_BREAKER_FAILURES", "3")
    attempt = _unknown_adyen_attempt(merchant)
    # The timed-out authorization itself was a failed call (the window counts it).
    failures_before = breaker.view(provider="adyen").window_failures

    for _ in range(6):  # twice the threshold: Adyen's status() answers "unknown" with no call
        result = services.resolve_unknown_attempt(attempt_id=attempt.id)
        assert result.outcome == Outcome.TIMEOUT_UNKNOWN

    state = breaker.view(provider="adyen")
    assert (state.state, state.consecutive_failures) == ("closed", 0)
    assert state.window_failures == failures_before
    attempt.refresh_from_db()
    assert attempt.inquiries == 6
    assert Attempt.objects.filter(parent=attempt, kind="status").count() == 6


def test_adyen_validation_error_is_a_final_decline_not_a_provider_failure(
    merchant, providers, sim, adyen
):
    # adyen first, then sim-b (seeded by `providers` before its credentials were set: disabled)
    Provider.objects.filter(name="adyen").update(priority=0, enabled=True)
    invalidate()
    adyen.expect(load("adyen", "payments_validation_422"))
    request = payment_request(
        merchant, token_id=card_token(merchant, RATED), exclude_providers=("sim-a",)
    )

    outcome = services.authorize(request=request)

    assert (outcome.outcome, outcome.decline_code) == (Outcome.HARD_DECLINE, "adyen_101")
    assert [a[1] for a in outcome.attempts] == ["adyen"]
    assert sim.records("sim-b") == []  # not cascaded
    assert breaker.view(provider="adyen").consecutive_failures == 0


def _signed_notification() -> dict:
    return json.loads(_notification("att_x", success=True))


def _malformed(case: str) -> bytes:
    payload = _signed_notification()
    item = payload["notificationItems"][0]["NotificationRequestItem"]
    if case == "item_not_object":
        payload["notificationItems"][0]["NotificationRequestItem"] = ["not", "an", "object"]
    elif case == "item_is_string":
        payload["notificationItems"][0]["NotificationRequestItem"] = "pspReference"
    elif case == "additional_data_string":
        item["additionalData"] = "hmacSignature=abc"
    elif case == "additional_data_list":
        item["additionalData"] = [item["additionalData"]]
    elif case == "amount_not_object":
        item["amount"] = 2000
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    "case",
    ["item_not_object", "item_is_string", "additional_data_string", "additional_data_list",
     "amount_not_object"],
)  # fmt: skip
def test_malformed_adyen_notification_is_a_400_and_nothing_is_stored(adyen, case):
    response = APIClient().post(
        "/api/webhooks/adyen", data=_malformed(case), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert not IncomingEvent.objects.exists()


@pytest.mark.parametrize(("event_code", "success"), [("CAPTURE", False), ("CAPTURE_FAILED", True)])
def test_a_capture_adyen_accepted_then_reports_failed_is_recorded_as_failed(
    merchant, adyen, django_capture_on_commit_callbacks, event_code, success
):
    adyen.expect(load("adyen", "payments_authorised"))
    adyen.expect(load("adyen", "capture_received"))
    request = payment_request(
        merchant, token_id=card_token(merchant, RATED), exclude_providers=("sim-a", "sim-b")
    )
    authorized = services.authorize(request=request)
    assert services.capture(attempt_id=authorized.attempt_id, amount_minor=1000).outcome == (
        Outcome.APPROVED
    )
    capture = Attempt.objects.get(kind="capture", parent_id=authorized.attempt_id)
    assert capture.outcome == "approved"  # Adyen's "received"

    notification = _notification(
        authorized.attempt_id,
        success=success,
        eventCode=event_code,
        pspReference="QJHM7LJ5WV6M8Z82",  # the capture's own reference
        originalReference="JVBXGSDM53RZNN82",
        amount={"currency": "EUR", "value": 1000},
        reason="Insufficient balance on payment",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/api/webhooks/adyen", data=notification, content_type="application/json"
        )

    assert response.status_code == 200
    capture.refresh_from_db()
    assert (capture.outcome, capture.decline_code) == ("hard_decline", "capture_failed")
    assert "Insufficient balance" in capture.message
    assert capture.raw["changed_by_event"].startswith("QJHM7LJ5WV6M8Z82:")
    # The authorization itself is untouched.
    assert Attempt.objects.get(pk=authorized.attempt_id).outcome == "approved"


def _captured_through_adyen(merchant, adyen) -> tuple[str, Attempt]:
    adyen.expect(load("adyen", "payments_authorised"))
    adyen.expect(load("adyen", "capture_received"))
    request = payment_request(
        merchant, token_id=card_token(merchant, RATED), exclude_providers=("sim-a", "sim-b")
    )
    authorized = services.authorize(request=request)
    services.capture(attempt_id=authorized.attempt_id, amount_minor=1000)
    return authorized.attempt_id, Attempt.objects.get(
        kind="capture", parent_id=authorized.attempt_id
    )


def _post(notification: bytes, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/api/webhooks/adyen", data=notification, content_type="application/json"
        )
    assert response.status_code == 200


def test_a_capture_adyen_carries_out_after_reporting_it_failed_is_approved_again(
    merchant, adyen, django_capture_on_commit_callbacks
):
    authorization, capture = _captured_through_adyen(merchant, adyen)
    common = dict(
        pspReference="QJHM7LJ5WV6M8Z82",
        originalReference="JVBXGSDM53RZNN82",
        amount={"currency": "EUR", "value": 1000},
    )
    _post(
        _notification(
            authorization, True, eventCode="CAPTURE", eventDate="2026-11-26T09:00:00Z", **common
        ),
        django_capture_on_commit_callbacks,
    )
    _post(
        _notification(authorization, True, eventCode="CAPTURE_FAILED", **common),
        django_capture_on_commit_callbacks,
    )
    capture.refresh_from_db()
    assert capture.decline_code == "capture_failed"

    # Adyen's recapture: the same pspReference and event code, a later date.
    _post(
        _notification(
            authorization, True, eventCode="CAPTURE", eventDate="2026-11-27T09:00:00Z", **common
        ),
        django_capture_on_commit_callbacks,
    )

    capture.refresh_from_db()
    assert (capture.outcome, capture.decline_code) == ("approved", "")
    assert IncomingEvent.objects.count() == 3


def test_a_failure_naming_a_capture_we_never_made_changes_none_of_ours(
    merchant, adyen, django_capture_on_commit_callbacks
):
    authorization, capture = _captured_through_adyen(merchant, adyen)
    _post(
        _notification(
            authorization,
            True,
            eventCode="CAPTURE_FAILED",
            pspReference="MADE_IN_THE_CUSTOMER_AREA",
            originalReference="JVBXGSDM53RZNN82",
            amount={"currency": "EUR", "value": 1000},  # the same amount as ours
        ),
        django_capture_on_commit_callbacks,
    )

    capture.refresh_from_db()
    assert capture.outcome == "approved"
