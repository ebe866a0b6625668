"""SimulatorAdapter against the real simulator: what routing and payments will see.

No database: the adapter and the simulator subprocess are all these tests need.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks import Webhook

from routing.adapters import SettlementReportError, WebhookVerificationError
from routing.adapters.simulator import DECLINE_RETRYABLE, SimulatorAdapter, scrub
from routing.interface import AuthorizeRequest, CardData, Outcome, WalletData
from tests.fixtures.simulator import WEBHOOK_SECRET, SimulatorHandle

pytest_plugins = ["tests.fixtures.simulator"]  # also listed by tests/conftest.py

OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LWZvci10ZXN0cw=="  # base64("other-secret-for-tests")

TEST_CARD_OUTCOMES = [
    ("4242424242424242", Outcome.APPROVED, ""),
    ("4000000000000002", Outcome.HARD_DECLINE, "generic_decline"),
    ("4000000000009995", Outcome.HARD_DECLINE, "insufficient_funds"),
    ("4000000000000069", Outcome.HARD_DECLINE, "expired_card"),
    ("4000000000000127", Outcome.HARD_DECLINE, "incorrect_cvc"),
    ("4000000000000119", Outcome.SOFT_DECLINE, "processing_error"),
    ("4000000000003220", Outcome.REQUIRES_ACTION, ""),
    ("4100000000000019", Outcome.HARD_DECLINE, "fraudulent"),
]


def card(number: str = "4242424242424242", **fields) -> CardData:
    return CardData(number=number, exp_month=12, exp_year=2034, cvc="123", **fields)


def card_request(reference: str, number: str = "4242424242424242", **fields) -> AuthorizeRequest:
    fields.setdefault("amount_minor", 1000)
    fields.setdefault("currency", "EUR")
    return AuthorizeRequest(reference=reference, method="card", card=card(number), **fields)


@pytest.fixture
def adapter(sim: SimulatorHandle) -> Iterator[SimulatorAdapter]:
    adapter = sim.adapter("sim-a", timeout_s=2.0)
    yield adapter
    adapter.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- authorize ------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "outcome", "decline_code"), TEST_CARD_OUTCOMES)
def test_test_cards_map_to_normalized_outcomes(adapter, number, outcome, decline_code):
    result = adapter.authorize(card_request("att_1", number))
    assert (result.outcome, result.decline_code) == (outcome, decline_code)
    assert result.provider == "sim-a"
    assert result.reference == "att_1"
    assert result.provider_reference.startswith("sa_")


def test_approval_carries_amount_fee_and_latency(sim, adapter):
    sim.control("sim-a", latency_ms={"mean": 30, "jitter": 0})
    result = adapter.authorize(card_request("att_1", amount_minor=10_000))
    assert result.outcome is Outcome.APPROVED
    assert (result.amount_minor, result.fee_minor) == (10_000, 320)
    assert result.latency_ms >= 30


def test_3ds_card_requires_action_with_redirect(adapter):
    request = card_request("att_1", "4000000000003220", three_ds_return_url="https://shop.test/r")
    result = adapter.authorize(request)
    assert result.outcome is Outcome.REQUIRES_ACTION
    assert result.redirect_url.endswith(f"/sim-a/3ds/{result.provider_reference}")


def test_approval_rate_declines_are_soft(sim, adapter):
    sim.control("sim-a", approval_rate={"*": 0.0})
    result = adapter.authorize(card_request("att_1", "4111111111111111"))
    assert (result.outcome, result.decline_code) == (Outcome.SOFT_DECLINE, "try_again_later")


def test_card_country_reaches_the_approval_knobs(sim, adapter):
    sim.control("sim-a", approval_rate={"country:FR": 0.0})
    request = AuthorizeRequest(
        reference="att_fr",
        amount_minor=500,
        currency="EUR",
        method="card",
        card=card("4111111111111111", country="FR"),
    )
    assert adapter.authorize(request).outcome is Outcome.SOFT_DECLINE


def test_wallet_payment_approves(adapter):
    request = AuthorizeRequest(
        reference="att_w",
        amount_minor=700,
        currency="usd",
        method="wallet",
        wallet=WalletData(type="google_pay", token="opaque-token"),
    )
    result = adapter.authorize(request)
    assert result.outcome is Outcome.APPROVED
    assert result.raw["currency"] == "USD"


def test_unknown_decline_codes_are_hard_and_the_table_is_explicit():
    assert DECLINE_RETRYABLE["processing_error"] is True
    assert DECLINE_RETRYABLE["insufficient_funds"] is False
    assert "some_new_code" not in DECLINE_RETRYABLE


def test_raw_never_holds_card_data(sim, adapter):
    result = adapter.authorize(card_request("att_1", capture=True))
    assert "4242424242424242" not in json.dumps(result.raw)
    assert "4242424242424242" not in repr(result)
    assert result.raw["card"]["last4"] == "4242"


def test_scrub_masks_numbers_cvcs_and_tokens_but_keeps_ids():
    raw = {
        "id": "sa_123456789012345678901234",
        "message": "card 4242424242424242 refused",
        "card": {"number": "4242424242424242", "cvc": "123"},
        "wallet": [{"token": "abc"}],
    }
    assert scrub(raw) == {
        "id": "sa_123456789012345678901234",
        "message": "card 424242******4242 refused",
        "card": {"number": "[scrubbed]", "cvc": "[scrubbed]"},
        "wallet": [{"token": "[scrubbed]"}],
    }


# -- idempotency ----------------------------------------------------------------------------


def test_retried_authorization_returns_the_same_result(sim, adapter):
    first = adapter.authorize(card_request("att_1"))
    second = adapter.authorize(card_request("att_1"))
    assert first.provider_reference == second.provider_reference
    assert len(sim.records("sim-a")) == 1


def test_concurrent_retries_through_one_adapter_authorize_once(sim, adapter):
    barrier = threading.Barrier(20)
    references: list[str] = []

    def attempt() -> None:
        barrier.wait()
        references.append(adapter.authorize(card_request("att_race")).provider_reference)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(references) == 20
    assert len(set(references)) == 1
    assert len(sim.records("sim-a")) == 1


# -- capture, refund, void ------------------------------------------------------------------


def test_capture_then_refunds_up_to_captured(sim, adapter):
    auth = adapter.authorize(card_request("att_1", amount_minor=10_000))
    ids = {"reference": "att_1", "provider_reference": auth.provider_reference, "currency": "EUR"}
    capture = adapter.capture(**ids, amount_minor=8_000)
    assert (capture.outcome, capture.amount_minor) == (Outcome.APPROVED, 8_000)
    assert capture.fee_minor == 30 + 232  # 2.9 % of 80.00
    refund = adapter.refund(**ids, amount_minor=5_000, refund_reference="re_1")
    assert refund.outcome is Outcome.APPROVED
    assert refund.provider_reference.startswith("sr_")
    assert refund.amount_minor == 5_000
    too_much = adapter.refund(**ids, amount_minor=3_001, refund_reference="re_2")
    assert too_much.outcome is Outcome.HARD_DECLINE
    assert too_much.decline_code == "amount_exceeds_refundable"
    replay = adapter.refund(**ids, amount_minor=5_000, refund_reference="re_1")
    assert replay.provider_reference == refund.provider_reference
    [record] = sim.records("sim-a")
    assert (record["amount_captured"], record["amount_refunded"]) == (8_000, 5_000)


def test_void_uncaptured_authorization(sim, adapter):
    auth = adapter.authorize(card_request("att_1"))
    result = adapter.void(reference="att_1", provider_reference=auth.provider_reference)
    assert result.outcome is Outcome.APPROVED
    assert sim.records("sim-a")[0]["status"] == "voided"
    status = adapter.status(reference="att_1")
    assert (status.outcome, status.decline_code) == (Outcome.HARD_DECLINE, "voided")


def test_capture_of_a_declined_authorization_is_a_hard_decline(adapter):
    auth = adapter.authorize(card_request("att_1", "4000000000000002"))
    result = adapter.capture(
        reference="att_1",
        provider_reference=auth.provider_reference,
        amount_minor=1000,
        currency="EUR",
    )
    assert (result.outcome, result.decline_code) == (Outcome.HARD_DECLINE, "invalid_state")


# -- failures, timeouts, status inquiry -----------------------------------------------------


def test_outage_is_a_provider_error(sim, adapter):
    sim.control("sim-a", outage=True)
    result = adapter.authorize(card_request("att_1"))
    assert result.outcome is Outcome.PROVIDER_ERROR
    assert sim.records("sim-a") == []


def test_random_500_is_a_provider_error(sim, adapter):
    sim.control("sim-a", error_rate=1.0)
    assert adapter.authorize(card_request("att_1")).outcome is Outcome.PROVIDER_ERROR


def test_connection_refused_is_a_provider_error():
    adapter = SimulatorAdapter("sim-a", f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    try:
        assert adapter.authorize(card_request("att_1")).outcome is Outcome.PROVIDER_ERROR
    finally:
        adapter.close()


def test_unknown_provider_is_a_provider_error_not_a_decline(sim):
    adapter = sim.adapter("sim-nope")
    try:
        assert adapter.status(reference="att_1").outcome is Outcome.PROVIDER_ERROR
    finally:
        adapter.close()


def test_timeout_is_unknown_until_the_status_inquiry_finds_the_authorization(sim):
    sim.control("sim-a", timeout_rate=1.0, timeout_s=1.0)
    adapter = sim.adapter("sim-a", timeout_s=0.3)
    try:
        timed_out = adapter.authorize(card_request("att_t"))
        assert timed_out.outcome is Outcome.TIMEOUT_UNKNOWN
        assert timed_out.provider_reference == ""
        status = adapter.status(reference="att_t")
        assert status.outcome is Outcome.APPROVED
        assert status.provider_reference.startswith("sa_")
    finally:
        adapter.close()
    assert len(sim.records("sim-a")) == 1


def test_void_by_our_reference_after_a_timeout(sim):
    sim.control("sim-a", timeout_rate=1.0, timeout_s=1.0)
    adapter = sim.adapter("sim-a", timeout_s=0.3)
    try:
        assert adapter.authorize(card_request("att_t")).outcome is Outcome.TIMEOUT_UNKNOWN
        sim.control("sim-a", timeout_rate=0.0)
        result = adapter.void(reference="att_t", provider_reference="")
    finally:
        adapter.close()
    assert result.outcome is Outcome.APPROVED
    assert sim.records("sim-a")[0]["status"] == "voided"


def test_status_of_an_unknown_reference_says_never_authorized(adapter):
    result = adapter.status(reference="att_never")
    assert (result.outcome, result.decline_code) == (Outcome.HARD_DECLINE, "not_found")
    assert "never authorized" in result.message


# -- 3-D Secure -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "outcome", "decline_code"),
    [("complete", Outcome.APPROVED, ""), ("fail", Outcome.HARD_DECLINE, "authentication_failed")],
)
def test_3ds_challenge_result_is_seen_by_status_inquiry(adapter, choice, outcome, decline_code):
    request = card_request("att_3ds", "4000000000003220", three_ds_return_url="https://s.test/r")
    started = adapter.authorize(request)
    with httpx.Client(trust_env=False) as browser:
        page = browser.get(started.redirect_url)
        assert "Complete authentication" in page.text
        submitted = browser.post(started.redirect_url, data={"result": choice})
    assert submitted.headers["location"] == "https://s.test/r?reference=att_3ds"
    status = adapter.status(reference="att_3ds")
    assert (status.outcome, status.decline_code) == (outcome, decline_code)


# -- settlement -----------------------------------------------------------------------------


def test_settlement_report_parses_into_lines(sim, adapter):
    sim.control("sim-a", fees={"EUR": {"percent_bp": 140, "fixed_minor": 25}})
    auth = adapter.authorize(card_request("att_1", amount_minor=10_000, capture=True))
    adapter.refund(
        reference="att_1",
        provider_reference=auth.provider_reference,
        amount_minor=1_000,
        currency="EUR",
        refund_reference="re_1",
    )
    captured_at = sim.records("sim-a")[0]["captured_at"]
    date = dt.datetime.fromtimestamp(captured_at, dt.UTC).date().isoformat()
    report = adapter.settlement_report(date=date)
    capture, refund, payout = report.lines
    assert (capture.type, capture.reference, capture.provider_reference) == (
        "capture",
        "att_1",
        auth.provider_reference,
    )
    assert (capture.gross_minor, capture.fee_minor, capture.net_minor) == (10_000, 165, 9_835)
    assert (refund.type, refund.reference, refund.gross_minor, refund.net_minor) == (
        "refund",
        "re_1",
        -1_000,
        -1_000,
    )
    assert (payout.type, payout.net_minor, payout.currency) == ("payout", -8_835, "EUR")
    assert capture.payout_reference == refund.payout_reference == payout.provider_reference
    assert report.raw.decode().count("\n") == 4  # header and three lines, as received
    assert adapter.settlement_report(date="2001-01-01").lines == ()


def test_settlement_report_errors(sim, adapter):
    with pytest.raises(ValueError):
        adapter.settlement_report(date="../../etc")
    sim.control("sim-a", outage=True)
    with pytest.raises(SettlementReportError):
        adapter.settlement_report(date="2001-01-01")


# -- webhooks -------------------------------------------------------------------------------


@pytest.fixture
def dispute_webhook(sim, adapter, webhook_receiver):
    """A real dispute.opened delivery from the simulator: (body, headers, authorization)."""
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    auth = adapter.authorize(card_request("att_d", capture=True))
    sim.open_dispute("sim-a", auth.provider_reference, amount=400)
    [received] = webhook_receiver.wait()
    return received.body, received.headers, auth


def test_signed_webhook_is_verified_and_normalized(adapter, dispute_webhook):
    body, headers, auth = dispute_webhook
    [event] = adapter.parse_webhook(body=body, headers=headers)
    assert event.provider == "sim-a"
    assert event.event_id.startswith("evt_sim_")
    assert event.type == "dispute.opened"
    assert (event.reference, event.provider_reference) == ("att_d", auth.provider_reference)
    assert (event.amount_minor, event.currency) == (400, "EUR")
    assert event.data["dispute_reference"].startswith("sdp_")


def test_tampered_webhook_is_rejected(adapter, dispute_webhook):
    body, headers, _ = dispute_webhook
    with pytest.raises(WebhookVerificationError):
        adapter.parse_webhook(
            body=body.replace(b'"amount":400', b'"amount":40000'), headers=headers
        )


def test_webhook_without_signature_headers_is_rejected(adapter, dispute_webhook):
    body, headers, _ = dispute_webhook
    unsigned = {k: v for k, v in headers.items() if k != "webhook-signature"}
    with pytest.raises(WebhookVerificationError):
        adapter.parse_webhook(body=body, headers=unsigned)
    with pytest.raises(WebhookVerificationError):
        adapter.parse_webhook(body=body, headers={**headers, "webhook-signature": "v1garbage"})


def test_webhook_signed_with_another_secret_is_rejected(sim, dispute_webhook):
    body, headers, _ = dispute_webhook
    stranger = sim.adapter("sim-a", webhook_secrets=[OTHER_SECRET])
    with pytest.raises(WebhookVerificationError):
        stranger.parse_webhook(body=body, headers=headers)
    stranger.close()


def test_stale_webhook_is_rejected(adapter):
    event = {"id": "evt_sim_old", "type": "payment.succeeded", "provider": "sim-a", "data": {}}
    body = json.dumps(event)
    sent_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    headers = {
        "webhook-id": "evt_sim_old",
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign("evt_sim_old", sent_at, body),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        adapter.parse_webhook(body=body.encode(), headers=headers)


def test_event_of_another_provider_is_rejected(sim, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    b_adapter = sim.adapter("sim-b")
    auth = b_adapter.authorize(card_request("att_b"))
    sim.send_event("sim-b", "payment.succeeded", auth.provider_reference)
    [received] = webhook_receiver.wait()
    a_adapter = sim.adapter("sim-a")
    try:
        with pytest.raises(WebhookVerificationError):
            a_adapter.parse_webhook(body=received.body, headers=received.headers)
        [event] = b_adapter.parse_webhook(body=received.body, headers=received.headers)
        assert event.type == "payment.succeeded"
    finally:
        a_adapter.close()
        b_adapter.close()


def test_secret_rotation_on_both_sides(sim, webhook_receiver):
    # Receiver first trusts old and new, then the sender moves to the new one only.
    sim.set_webhook(webhook_receiver.url, [OTHER_SECRET])
    rotating = sim.adapter("sim-a", webhook_secrets=[WEBHOOK_SECRET, OTHER_SECRET])
    auth = rotating.authorize(card_request("att_rot", capture=True))
    sim.send_event("sim-a", "payment.succeeded", auth.provider_reference)
    [received] = webhook_receiver.wait()
    assert rotating.parse_webhook(body=received.body, headers=received.headers)[0].type
    # The sender signs with old and new while receivers move over: either secret verifies.
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET, OTHER_SECRET])
    sim.send_event("sim-a", "payment.succeeded", auth.provider_reference)
    [received] = webhook_receiver.wait()
    new_only = sim.adapter("sim-a", webhook_secrets=[OTHER_SECRET])
    try:
        assert new_only.parse_webhook(body=received.body, headers=received.headers)[0].type
    finally:
        new_only.close()
        rotating.close()


def test_payment_event_for_pending_3ds_settles_it(sim, adapter, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    started = adapter.authorize(card_request("att_async", "4000000000003220"))
    sim.send_event("sim-a", "payment.succeeded", started.provider_reference)
    [received] = webhook_receiver.wait()
    [event] = adapter.parse_webhook(body=received.body, headers=received.headers)
    assert (event.type, event.reference, event.amount_minor) == (
        "payment.succeeded",
        "att_async",
        1000,
    )
    assert adapter.status(reference="att_async").outcome is Outcome.APPROVED
