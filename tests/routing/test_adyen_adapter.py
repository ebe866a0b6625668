"""The Adyen adapter on the official SDK, replaying exchanges recorded from Adyen's published
Checkout API reference: resultCodes and refusal reasons mapped to our outcomes, errors and
timeouts, modifications, and HMAC-signed notifications with key rotation."""

from __future__ import annotations

import copy
import json

import pytest
from Adyen import util as adyen_util

from routing.adapters import WebhookVerificationError
from routing.adapters.adyen import AdyenAdapter
from routing.interface import AuthorizeRequest, CardData, Outcome
from tests.routing.replay import ReplayServer, load

HMAC_OLD = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
HMAC_NEW = "0C71FC68D9D0C057550C48EC2ACF6BA05644782DEF547AAA06C910C43932B1EB"
CARD = CardData(number="4111111111111111", exp_month=3, exp_year=2030, cvc="737",
                holder_name="J. Smith")  # fmt: skip


@pytest.fixture
def server():
    replay = ReplayServer()
    yield replay
    replay.close()


@pytest.fixture
def adapter(server) -> AdyenAdapter:
    return AdyenAdapter(
        "adyen",
        api_key="AQE_fixture",
        merchant_account="TestMerchant",
        hmac_keys=[HMAC_NEW, HMAC_OLD],
        timeout_s=0.5,
        api_base=server.url,
    )


def _authorize(adapter: AdyenAdapter, server: ReplayServer, fixture: str):
    server.expect(load("adyen", fixture))
    return adapter.authorize(
        AuthorizeRequest(
            reference="att_fixture_1", amount_minor=2000, currency="EUR", method="card", card=CARD
        )
    )


def test_authorised_payment_is_approved_and_sent_with_our_reference(adapter, server):
    result = _authorize(adapter, server, "payments_authorised")

    assert (result.outcome, result.provider_reference) == (Outcome.APPROVED, "JVBXGSDM53RZNN82")
    [sent] = server.received
    assert sent.headers["idempotency-key"] == "att_fixture_1"
    body = json.loads(sent.body)
    assert body["reference"] == "att_fixture_1"
    assert body["merchantAccount"] == "TestMerchant"
    assert body["amount"] == {"value": 2000, "currency": "EUR"}
    assert body["paymentMethod"]["type"] == "scheme"


@pytest.mark.parametrize(
    ("fixture", "outcome", "code"),
    [
        ("payments_refused_not_enough_balance", Outcome.HARD_DECLINE, "insufficient_funds"),
        ("payments_refused_issuer_unavailable", Outcome.SOFT_DECLINE, "issuer_unavailable"),
        # A request Adyen refuses as invalid is final: no cascade, no breaker failure.
        ("payments_validation_422", Outcome.HARD_DECLINE, "adyen_101"),
        ("payments_unauthorized_401", Outcome.PROVIDER_ERROR, "adyen_000"),
        ("payments_server_error_500", Outcome.TIMEOUT_UNKNOWN, ""),
        ("payments_timeout", Outcome.TIMEOUT_UNKNOWN, ""),
    ],
)
def test_refusals_errors_and_timeouts_map_to_our_outcomes(adapter, server, fixture, outcome, code):
    result = _authorize(adapter, server, fixture)

    assert (result.outcome, result.decline_code) == (outcome, code)
    assert "4111111111111111" not in json.dumps(result.raw)


def test_redirect_shopper_requires_action(adapter, server):
    result = _authorize(adapter, server, "payments_redirect_shopper")

    assert result.outcome == Outcome.REQUIRES_ACTION
    assert result.redirect_url.startswith("https://checkoutshopper-test.adyen.com/")


def test_capture_refund_and_cancel_are_received(adapter, server):
    for name in ("capture_received", "refund_received", "cancel_received"):
        server.expect(load("adyen", name))
    psp = "JVBXGSDM53RZNN82"

    results = [
        adapter.capture(
            reference="att_1", provider_reference=psp, amount_minor=1500, currency="EUR"
        ),
        adapter.refund(
            reference="att_1",
            provider_reference=psp,
            amount_minor=500,
            currency="EUR",
            refund_reference="re_ours_1",
        ),
        adapter.void(reference="att_1", provider_reference=psp),
    ]

    assert [r.outcome for r in results] == [Outcome.APPROVED] * 3
    assert [r.headers["idempotency-key"] for r in server.received] == [
        "att_1:capture:1500",
        "re_ours_1",
        "att_1:void",
    ]


def _notification(key: str, **changes) -> bytes:
    payload = copy.deepcopy(load("adyen", "notification_authorisation")["notification"])
    item = payload["notificationItems"][0]["NotificationRequestItem"]
    item.update(changes)
    unsigned = {k: v for k, v in item.items() if k != "additionalData"}
    item["additionalData"]["hmacSignature"] = adyen_util.generate_notification_sig(
        unsigned, key
    ).decode()
    return json.dumps(payload).encode()


def test_notification_signed_with_either_rotation_key_is_parsed(adapter):
    for key in (HMAC_OLD, HMAC_NEW):
        [event] = adapter.parse_webhook(body=_notification(key), headers={})

        assert event.type == "payment.succeeded"
        assert event.reference == "att_fixture_1"
        assert event.event_id == "JVBXGSDM53RZNN82:AUTHORISATION:true"
        assert event.amount_minor == 2000


def test_refused_authorisation_notification_carries_the_decline(adapter):
    body = _notification(HMAC_NEW, success="false")

    [event] = adapter.parse_webhook(body=body, headers={})

    assert event.type == "payment.failed"


def test_tampered_or_unsigned_notification_is_refused(adapter):
    body = json.loads(_notification(HMAC_NEW))
    body["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] = 1
    unsigned = json.loads(_notification(HMAC_NEW))
    del unsigned["notificationItems"][0]["NotificationRequestItem"]["additionalData"]

    for bad in (body, unsigned):
        with pytest.raises(WebhookVerificationError):
            adapter.parse_webhook(body=json.dumps(bad).encode(), headers={})
    with pytest.raises(WebhookVerificationError):
        adapter.parse_webhook(body=_notification("AB" * 32), headers={})
