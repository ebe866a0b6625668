"""The Stripe adapter on the official SDK, replaying exchanges recorded from Stripe's published
API reference: outcomes, decline codes, errors and timeouts mapped to ours; webhooks verified."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

import pytest

from routing.adapters import WebhookVerificationError
from routing.adapters.stripe import StripeAdapter
from routing.interface import AuthorizeRequest, CardData, Outcome
from tests.routing.replay import ReplayServer, load

SECRET_OLD = "whsec_old_0123456789abcdef"
SECRET_NEW = "whsec_new_fedcba9876543210"
CARD = CardData(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123")


@pytest.fixture
def server():
    replay = ReplayServer()
    yield replay
    replay.close()


@pytest.fixture
def adapter(server) -> StripeAdapter:
    return StripeAdapter(
        "stripe",
        api_key="sk_test_fixture",
        webhook_secrets=[SECRET_NEW, SECRET_OLD],
        timeout_s=0.5,
        api_base=server.url,
    )


def _authorize(adapter: StripeAdapter, server: ReplayServer, fixture: str, **extra):
    server.expect(load("stripe", fixture))
    return adapter.authorize(
        AuthorizeRequest(
            reference="att_fixture_1",
            amount_minor=2000,
            currency="EUR",
            method="card",
            card=CARD,
            **extra,
        )
    )


def test_authorized_intent_is_approved_and_sent_with_our_idempotency_key(adapter, server):
    result = _authorize(adapter, server, "authorize_requires_capture")

    assert result.outcome == Outcome.APPROVED
    assert result.provider_reference == "pi_3MtwBwLkdIwHu7ix28a3tqPa"
    [sent] = server.received
    assert sent.headers["idempotency-key"] == "att_fixture_1"
    form = parse_qs(sent.body.decode())
    assert form["capture_method"] == ["manual"] and form["confirm"] == ["true"]
    assert form["metadata[reference]"] == ["att_fixture_1"]
    assert "client_secret" not in json.dumps(result.raw).replace(
        '"client_secret": "[scrubbed]"', ""
    )


def test_three_ds_intent_requires_action_with_the_redirect(adapter, server):
    result = _authorize(adapter, server, "authorize_requires_action", three_ds_required=True)

    assert result.outcome == Outcome.REQUIRES_ACTION
    assert result.redirect_url.startswith("https://hooks.stripe.com/3d_secure_2/")
    form = parse_qs(server.received[0].body.decode())
    assert form["payment_method_options[card][request_three_d_secure]"] == ["any"]


@pytest.mark.parametrize(
    ("fixture", "outcome", "code"),
    [
        ("authorize_insufficient_funds", Outcome.HARD_DECLINE, "insufficient_funds"),
        ("authorize_try_again_later", Outcome.SOFT_DECLINE, "try_again_later"),
        ("authorize_processing_error", Outcome.SOFT_DECLINE, "processing_error"),
        ("authorize_api_error_500", Outcome.TIMEOUT_UNKNOWN, ""),
        ("authorize_rate_limited", Outcome.PROVIDER_ERROR, "rate_limited"),
        # A request Stripe refuses as invalid is final: no cascade, no breaker failure.
        ("authorize_invalid_request_400", Outcome.HARD_DECLINE, "parameter_invalid_integer"),
        ("authorize_unauthorized_401", Outcome.PROVIDER_ERROR, "http_401"),
        ("authorize_timeout", Outcome.TIMEOUT_UNKNOWN, ""),
        # Not decided yet: unknown (the status inquiry asks again), never approved.
        ("authorize_processing", Outcome.TIMEOUT_UNKNOWN, ""),
    ],
)
def test_declines_errors_and_timeouts_map_to_our_outcomes(adapter, server, fixture, outcome, code):
    result = _authorize(adapter, server, fixture)

    assert (result.outcome, result.decline_code) == (outcome, code)
    assert "4242424242424242" not in json.dumps(result.raw)


def test_unreachable_stripe_is_a_provider_error_safe_to_cascade():
    adapter = StripeAdapter(
        "stripe", api_key="sk_test_x", timeout_s=0.5, api_base="http://127.0.0.1:9"
    )

    result = adapter.authorize(
        AuthorizeRequest(
            reference="att_1", amount_minor=100, currency="EUR", method="card", card=CARD
        )
    )

    assert result.outcome == Outcome.PROVIDER_ERROR


def test_capture_refund_and_cancel(adapter, server):
    for name in ("capture", "refund", "cancel"):
        server.expect(load("stripe", name))
    pi = "pi_3MtwBwLkdIwHu7ix28a3tqPa"

    captured = adapter.capture(
        reference="att_1", provider_reference=pi, amount_minor=1500, currency="EUR"
    )
    refunded = adapter.refund(
        reference="att_1",
        provider_reference=pi,
        amount_minor=500,
        currency="EUR",
        refund_reference="re_ours_1",
    )
    canceled = adapter.void(reference="att_1", provider_reference=pi)

    assert [r.outcome for r in (captured, refunded, canceled)] == [Outcome.APPROVED] * 3
    assert captured.amount_minor == 1500
    assert refunded.provider_reference == "re_1Nispe2eZvKYlo2Cd31jOCgZ"
    keys = [r.headers["idempotency-key"] for r in server.received]
    assert keys == ["att_1:capture:1500", "re_ours_1", "att_1:void"]


def test_status_inquiry_searches_by_our_reference_then_retrieves(adapter, server):
    server.expect(load("stripe", "search_found"))
    server.expect(load("stripe", "retrieve"))
    server.expect(load("stripe", "search_empty"))

    found = adapter.status(reference="att_fixture_1")
    empty = adapter.status(reference="att_other")

    assert found.outcome == Outcome.APPROVED
    assert "att_fixture_1" in server.received[0].path
    assert server.received[1].path == "/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa"
    # Stripe's search index lags: an empty answer is not proof that nothing was authorized.
    assert empty.outcome == Outcome.TIMEOUT_UNKNOWN


@pytest.mark.parametrize(
    ("retrieved", "outcome", "code"),
    [
        ("retrieve", Outcome.APPROVED, ""),
        ("retrieve_canceled", Outcome.HARD_DECLINE, "canceled"),
        ("retrieve_processing", Outcome.TIMEOUT_UNKNOWN, ""),
        ("retrieve_requires_payment_method", Outcome.HARD_DECLINE, "insufficient_funds"),
    ],
)
def test_status_inquiry_reads_the_intents_current_state(adapter, server, retrieved, outcome, code):
    # The search hit is stale (requires_capture); the retrieved intent is what counts.
    server.expect(load("stripe", "search_found"))
    server.expect(load("stripe", retrieved))

    result = adapter.status(reference="att_fixture_1")

    assert (result.outcome, result.decline_code) == (outcome, code)
    assert result.provider_reference == "pi_3MtwBwLkdIwHu7ix28a3tqPa"


def test_void_answered_with_a_canceled_intent_is_still_a_successful_void(adapter, server):
    server.expect(load("stripe", "cancel"))

    result = adapter.void(reference="att_1", provider_reference="pi_3MtwBwLkdIwHu7ix28a3tqPa")

    assert result.outcome == Outcome.APPROVED


def _signed(payload: str, secret: str, at: int) -> dict[str, str]:
    signature = hmac.new(secret.encode(), f"{at}.{payload}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={signature}"}


def test_webhook_signed_with_either_rotation_secret_is_parsed(adapter):
    payload = json.dumps(load("stripe", "event_payment_intent_succeeded")["event"])

    for secret in (SECRET_OLD, SECRET_NEW):
        [event] = adapter.parse_webhook(
            body=payload.encode(), headers=_signed(payload, secret, int(time.time()))
        )
        assert (event.type, event.reference) == ("payment.succeeded", "att_fixture_1")
        assert event.event_id == "evt_3MtwBwLkdIwHu7ix0Zd5Xy1G"
        assert event.data["client_secret"] == "[scrubbed]"


@pytest.mark.parametrize("case", ["stale", "wrong_secret", "missing"])
def test_webhook_with_bad_stale_or_missing_signature_is_refused(adapter, case):
    payload = json.dumps(load("stripe", "event_payment_intent_succeeded")["event"])
    now = int(time.time())
    headers = {
        "stale": _signed(payload, SECRET_NEW, now - 301),
        "wrong_secret": _signed(payload, "whsec_someone_else", now),
        "missing": {},
    }[case]

    with pytest.raises(WebhookVerificationError):
        adapter.parse_webhook(body=payload.encode(), headers=headers)
