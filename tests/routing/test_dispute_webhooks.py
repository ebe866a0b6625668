"""Provider dispute webhooks normalized to `DisputeNotice`s: Stripe's charge.dispute.* events and
Adyen's dispute notifications, recorded from their published docs, and the simulator's signed
events; forged bodies are refused; verified dispute events reach the disputes app's handler, and
wait, stored, while none is registered."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid

import pytest
from Adyen import util as adyen_util
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from routing import events, services
from routing.adapters import WebhookVerificationError
from routing.adapters.adyen import AdyenAdapter
from routing.adapters.disputes import scheme_reason
from routing.adapters.stripe import StripeAdapter
from routing.conf import DEFAULT_SIM_WEBHOOK_SECRET
from routing.interface import DisputeEventKind, DisputeNotice, Outcome
from routing.models import IncomingEvent
from routing.services.disputes import dispute_notice
from tests.routing.conftest import card_token, payment_request
from tests.routing.replay import load

STRIPE_SECRET = "whsec_disputes_0123456789abcdef"
ADYEN_HMAC = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
UTC = dt.UTC
FRAUDULENT_CARD = "4000000000000259"
LIVE_WAIT_S = 10.0
CET = dt.timezone(dt.timedelta(hours=1))


@pytest.fixture
def stripe_adapter() -> StripeAdapter:
    return StripeAdapter("stripe", api_key="sk_test_fixture", webhook_secrets=[STRIPE_SECRET])


@pytest.fixture
def adyen_adapter() -> AdyenAdapter:
    return AdyenAdapter(
        "adyen", api_key="AQE_fixture", merchant_account="TestMerchant", hmac_keys=[ADYEN_HMAC]
    )


class NoticeLog:
    def __init__(self) -> None:
        self.notices: list[DisputeNotice] = []

    def __call__(self, notice: DisputeNotice) -> None:
        self.notices.append(notice)


@pytest.fixture
def dispute_notices() -> NoticeLog:
    """Our log as the dispute handler (conftest takes the disputes app's out for each test)."""
    log = NoticeLog()
    events.register_dispute_handler(log)
    return log


# -- Stripe ---------------------------------------------------------------------------------


def _stripe_signed(payload: str, secret: str = STRIPE_SECRET) -> dict[str, str]:
    at = int(time.time())
    signature = hmac.new(secret.encode(), f"{at}.{payload}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={signature}"}


def _stripe_notice(adapter: StripeAdapter, fixture: str) -> DisputeNotice:
    payload = json.dumps(load("stripe", fixture)["event"])
    [event] = adapter.parse_webhook(body=payload.encode(), headers=_stripe_signed(payload))
    return dispute_notice(event)


def test_stripe_dispute_created_is_an_opened_notice(stripe_adapter):
    notice = _stripe_notice(stripe_adapter, "event_charge_dispute_created")

    assert notice == DisputeNotice(
        provider="stripe",
        event_id="evt_1MtJUU2eZvKYlo2CdZ1a2b3c",
        kind=DisputeEventKind.OPENED,
        dispute_reference="du_1MtJUT2eZvKYlo2CNaw2HvEv",
        payment_reference="pi_3MtwBwLkdIwHu7ix28a3tqPa",
        attempt_id="",
        amount_minor=2000,
        currency="EUR",
        reason="fraudulent",
        status="needs_response",
        evidence_due_by=dt.datetime(2023, 4, 15, 23, 59, 59, tzinfo=UTC),
        fee_minor=0,
        occurred_at=dt.datetime.fromtimestamp(1680801000, UTC),
        raw=notice.raw,
    )
    assert notice.raw["id"] == "du_1MtJUT2eZvKYlo2CNaw2HvEv"


@pytest.mark.parametrize(
    ("fixture", "kind", "status", "fee_minor"),
    [
        ("event_charge_dispute_funds_withdrawn", DisputeEventKind.FUNDS_WITHDRAWN,
         "needs_response", 1500),
        ("event_charge_dispute_updated", DisputeEventKind.UPDATED, "under_review", 0),
        ("event_charge_dispute_funds_reinstated", DisputeEventKind.FUNDS_REINSTATED, "won", 0),
        ("event_charge_dispute_closed", DisputeEventKind.CLOSED, "won", 0),
    ],
)  # fmt: skip
def test_stripe_dispute_lifecycle_events_map_to_kinds(
    stripe_adapter, fixture, kind, status, fee_minor
):
    notice = _stripe_notice(stripe_adapter, fixture)

    assert (notice.kind, notice.status, notice.fee_minor) == (kind, status, fee_minor)
    assert notice.dispute_reference == "du_1MtJUT2eZvKYlo2CNaw2HvEv"
    assert (notice.amount_minor, notice.currency) == (2000, "EUR")


def test_stripe_inquiry_carries_the_warning_status_and_our_reference(stripe_adapter):
    notice = _stripe_notice(stripe_adapter, "event_charge_dispute_created_inquiry")

    assert (notice.kind, notice.status, notice.reason) == (
        DisputeEventKind.OPENED,
        "warning_needs_response",
        "general",
    )
    assert notice.attempt_id == "att_fixture_1"


def test_forged_stripe_dispute_is_refused(stripe_adapter):
    payload = json.dumps(load("stripe", "event_charge_dispute_created")["event"])
    headers = _stripe_signed(payload)
    forged = payload.replace('"amount": 2000', '"amount": 200000', 1)

    with pytest.raises(WebhookVerificationError):
        stripe_adapter.parse_webhook(body=forged.encode(), headers=headers)
    with pytest.raises(WebhookVerificationError):
        stripe_adapter.parse_webhook(
            body=payload.encode(), headers=_stripe_signed(payload, "whsec_someone_else")
        )


@pytest.mark.parametrize(
    ("reinstatement_fee", "fee_returned_minor"),
    [(0, 0), (-1500, 1500), (-700, 700), (250, 0)],
)
def test_stripe_reinstatement_states_the_fee_given_back_never_the_withdrawal_fee(
    stripe_adapter, reinstatement_fee, fee_returned_minor
):
    """The reinstating balance transaction (positive amount) carries the fee Stripe gives back
    as a negative fee; the withdrawal's fee (1500, in the same event) is not repeated."""
    event = load("stripe", "event_charge_dispute_funds_reinstated")["event"]
    withdrawal, reinstatement = event["data"]["object"]["balance_transactions"]
    assert withdrawal["fee"] == 1500
    reinstatement["fee"] = reinstatement_fee
    reinstatement["net"] = reinstatement["amount"] - reinstatement_fee
    reinstatement["fee_details"] = [
        {"amount": reinstatement_fee, "application": None, "currency": "eur",
         "description": "Dispute fee refund", "type": "stripe_fee"}
    ] if reinstatement_fee else []  # fmt: skip
    payload = json.dumps(event)

    [parsed] = stripe_adapter.parse_webhook(body=payload.encode(), headers=_stripe_signed(payload))
    notice = dispute_notice(parsed)

    assert (notice.kind, notice.amount_minor) == (DisputeEventKind.FUNDS_REINSTATED, 2000)
    assert notice.fee_minor == fee_returned_minor


# -- Adyen ----------------------------------------------------------------------------------


def _adyen_body(fixture: str, key: str = ADYEN_HMAC) -> bytes:
    payload = copy.deepcopy(load("adyen", fixture)["notification"])
    item = payload["notificationItems"][0]["NotificationRequestItem"]
    unsigned = {k: v for k, v in item.items() if k != "additionalData"}
    item["additionalData"]["hmacSignature"] = adyen_util.generate_notification_sig(
        unsigned, key
    ).decode()
    return json.dumps(payload).encode()


def _adyen_notice(adapter: AdyenAdapter, fixture: str) -> DisputeNotice:
    [event] = adapter.parse_webhook(body=_adyen_body(fixture), headers={})
    return dispute_notice(event)


def test_adyen_notification_of_chargeback_is_an_opened_notice(adyen_adapter):
    notice = _adyen_notice(adyen_adapter, "notification_of_chargeback")

    assert notice == DisputeNotice(
        provider="adyen",
        # Signed fields only: the eventDate is not covered by Adyen's HMAC.
        event_id="V4HZ4RBFJGXXGN82:NOTIFICATION_OF_CHARGEBACK:true:2000EUR",
        kind=DisputeEventKind.OPENED,
        dispute_reference="V4HZ4RBFJGXXGN82",
        payment_reference="JVBXGSDM53RZNN82",
        attempt_id="att_fixture_1",
        amount_minor=2000,
        currency="EUR",
        reason="fraudulent",
        status="needs_response",
        evidence_due_by=dt.datetime(2026, 12, 19, 10, 46, 39, tzinfo=CET),
        fee_minor=0,
        occurred_at=dt.datetime(2026, 11, 28, 10, 46, 39, tzinfo=CET),
        raw=notice.raw,
    )
    assert "hmacSignature" not in notice.raw["additionalData"]
    assert notice.raw["additionalData"]["chargebackReasonCode"] == "10.4"


@pytest.mark.parametrize(
    ("fixture", "kind", "status"),
    [
        ("notification_chargeback", DisputeEventKind.FUNDS_WITHDRAWN, "needs_response"),
        ("notification_information_supplied", DisputeEventKind.UPDATED, "under_review"),
        ("notification_chargeback_reversed", DisputeEventKind.FUNDS_REINSTATED, "won"),
        ("notification_second_chargeback", DisputeEventKind.FUNDS_WITHDRAWN, "lost"),
        ("notification_prearbitration_won", DisputeEventKind.FUNDS_REINSTATED, "won"),
        ("notification_prearbitration_lost", DisputeEventKind.CLOSED, "lost"),
    ],
)
def test_adyen_dispute_event_codes_map_to_kinds_and_statuses(adyen_adapter, fixture, kind, status):
    notice = _adyen_notice(adyen_adapter, fixture)

    assert (notice.kind, notice.status) == (kind, status)
    assert (notice.dispute_reference, notice.payment_reference) == (
        "V4HZ4RBFJGXXGN82",
        "JVBXGSDM53RZNN82",
    )
    assert notice.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    "fixture", ["notification_chargeback_reversed", "notification_prearbitration_won"]
)
def test_adyen_reinstatement_states_no_fee(adyen_adapter, fixture):
    """Adyen's notifications name no dispute fee: a reinstatement gives none back."""
    notice = _adyen_notice(adyen_adapter, fixture)

    assert (notice.kind, notice.fee_minor) == (DisputeEventKind.FUNDS_REINSTATED, 0)


@pytest.mark.parametrize(
    ("event_code", "kind", "status"),
    [
        ("DISPUTE_OPENED_WITH_CHARGEBACK", DisputeEventKind.OPENED, "needs_response"),
        ("REQUEST_FOR_INFORMATION", DisputeEventKind.OPENED, "warning_needs_response"),
        ("DISPUTE_DEFENSE_PERIOD_ENDED", DisputeEventKind.CLOSED, "lost"),
        ("CHARGEBACK_REVERSED", DisputeEventKind.FUNDS_REINSTATED, "won"),
    ],
)
def test_adyen_event_without_dispute_status_gets_the_codes_status(
    adyen_adapter, event_code, kind, status
):
    """Adyen sends no disputeStatus for payments processed in Brazil."""
    payload = copy.deepcopy(load("adyen", "notification_of_chargeback")["notification"])
    item = payload["notificationItems"][0]["NotificationRequestItem"]
    item["eventCode"] = event_code
    del item["additionalData"]["disputeStatus"]
    unsigned = {k: v for k, v in item.items() if k != "additionalData"}
    item["additionalData"]["hmacSignature"] = adyen_util.generate_notification_sig(
        unsigned, ADYEN_HMAC
    ).decode()

    [event] = adyen_adapter.parse_webhook(body=json.dumps(payload).encode(), headers={})

    assert (dispute_notice(event).kind, dispute_notice(event).status) == (kind, status)


def test_adyen_events_of_one_dispute_have_distinct_ids(adyen_adapter):
    ids = {
        _adyen_notice(adyen_adapter, fixture).event_id
        for fixture in ("notification_of_chargeback", "notification_chargeback",
                        "notification_chargeback_reversed", "notification_second_chargeback")
    }  # fmt: skip

    assert len(ids) == 4


def test_adyen_mastercard_reason_code_is_normalized(adyen_adapter):
    notice = _adyen_notice(adyen_adapter, "notification_chargeback_mastercard_not_received")

    assert (notice.reason, notice.amount_minor, notice.currency) == (
        "product_not_received",
        4599,
        "USD",
    )
    assert (notice.attempt_id, notice.payment_reference) == ("att_fixture_2", "K8PZQ3TV5M9XWR82")


@pytest.mark.parametrize(
    ("code", "reason"),
    [("10.4", "fraudulent"), ("13.1", "product_not_received"), ("12.6.1", "duplicate"),
     ("12.6.9", "duplicate"), ("4837", "fraudulent"), ("4841", "subscription_canceled"),
     ("c08", "product_not_received"), ("13.6", "credit_not_processed"), ("9999", "general")],
)  # fmt: skip
def test_scheme_reason_codes_map_to_normalized_reasons(code, reason):
    assert scheme_reason(code) == reason


def test_forged_adyen_dispute_is_refused(adyen_adapter):
    body = json.loads(_adyen_body("notification_chargeback"))
    body["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] = 1

    with pytest.raises(WebhookVerificationError):
        adyen_adapter.parse_webhook(body=json.dumps(body).encode(), headers={})
    with pytest.raises(WebhookVerificationError):
        adyen_adapter.parse_webhook(body=_adyen_body("notification_chargeback", "AB" * 32),
                                    headers={})  # fmt: skip


# -- the simulator, through POST /api/webhooks/<provider> -----------------------------------


def _sim_dispute_event(event_type: str = "dispute.funds_withdrawn", **changes) -> dict:
    dispute = {
        "id": "sdp_0123456789abcdef01234567",
        "object": "dispute",
        "authorization_id": "sa_1",
        "reference": "att_x",
        "amount": 1000,
        "currency": "EUR",
        "reason": "fraudulent",
        "status": "needs_response",
        "is_inquiry": False,
        "fee": 1500,
        "created": 1_800_000_000,
        "evidence_due_by": 1_800_604_800,
        **changes,
    }
    return {
        "id": f"evt_sim_{uuid.uuid4().hex[:24]}",
        "type": event_type,
        "created": 1_800_000_001,
        "provider": "sim-a",
        "data": dispute,
    }


def _post(event: dict, *, secret: str = DEFAULT_SIM_WEBHOOK_SECRET):
    body = json.dumps(event)
    at = dt.datetime.now(UTC)
    return APIClient().post(
        "/api/webhooks/sim-a",
        data=body,
        content_type="application/json",
        HTTP_WEBHOOK_ID=event["id"],
        HTTP_WEBHOOK_TIMESTAMP=str(int(at.timestamp())),
        HTTP_WEBHOOK_SIGNATURE=Webhook(secret).sign(event["id"], at, body),
    )


def test_verified_simulator_dispute_reaches_the_dispute_handler_as_a_notice(
    providers, dispute_notices, django_capture_on_commit_callbacks
):
    event = _sim_dispute_event()

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(event)

    assert response.status_code == 200
    [notice] = dispute_notices.notices
    assert (notice.provider, notice.event_id, notice.kind) == (
        "sim-a",
        event["id"],
        DisputeEventKind.FUNDS_WITHDRAWN,
    )
    assert (notice.dispute_reference, notice.payment_reference, notice.attempt_id) == (
        "sdp_0123456789abcdef01234567",
        "sa_1",
        "att_x",
    )
    assert (notice.amount_minor, notice.fee_minor, notice.reason) == (1000, 1500, "fraudulent")
    assert notice.evidence_due_by == dt.datetime.fromtimestamp(1_800_604_800, UTC)
    assert notice.occurred_at == dt.datetime.fromtimestamp(1_800_000_001, UTC)
    assert IncomingEvent.objects.get(event_id=event["id"]).status == "processed"


def test_redelivered_dispute_event_reaches_the_handler_once(
    providers, dispute_notices, django_capture_on_commit_callbacks
):
    event = _sim_dispute_event("dispute.opened")

    with django_capture_on_commit_callbacks(execute=True):
        _post(event)
        _post(event)

    assert [n.event_id for n in dispute_notices.notices] == [event["id"]]


def test_dispute_event_waits_stored_until_a_dispute_handler_registers(
    providers, django_capture_on_commit_callbacks
):
    event = _sim_dispute_event("dispute.opened")
    with django_capture_on_commit_callbacks(execute=True):
        _post(event)
    row = IncomingEvent.objects.get(event_id=event["id"])
    assert (row.status, row.tries) == ("received", 0)

    log = NoticeLog()
    events.register_dispute_handler(log)
    assert services.process_incoming_event(event_pk=row.pk) == "processed"
    assert [n.kind for n in log.notices] == [DisputeEventKind.OPENED]


def test_forged_simulator_dispute_is_refused_and_not_stored(providers, dispute_notices):
    event = _sim_dispute_event()

    response = _post(event, secret="whsec_" + "c29tZW9uZS1lbHNlcy1zZWNyZXQtMTIzNDU2Nzg5MA==")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert not IncomingEvent.objects.exists()
    assert dispute_notices.notices == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_dispute_test_card_payment_is_disputed_through_the_live_webhook_endpoint(
    merchant, providers, sim, live_server, dispute_notices
):
    sim.set_webhook(f"{live_server.url}/api/webhooks/{{provider}}", [DEFAULT_SIM_WEBHOOK_SECRET])
    sim.control("sim-a", dispute_delay_s=0.05)
    outcome = services.authorize(
        request=payment_request(
            merchant,
            token_id=card_token(merchant, FRAUDULENT_CARD),
            amount_minor=2500,
            capture=True,
        )
    )
    assert outcome.outcome == Outcome.APPROVED

    deadline = time.monotonic() + LIVE_WAIT_S
    while len(dispute_notices.notices) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    opened, withdrawn = dispute_notices.notices
    assert [opened.kind, withdrawn.kind] == [
        DisputeEventKind.OPENED,
        DisputeEventKind.FUNDS_WITHDRAWN,
    ]
    assert (opened.attempt_id, opened.payment_reference) == (
        outcome.attempt_id,
        outcome.provider_reference,
    )
    assert (opened.reason, opened.amount_minor, withdrawn.fee_minor) == ("fraudulent", 2500, 1500)
    # The handler has run; the live server marks the event processed right after it returns.
    while time.monotonic() < deadline and set(
        IncomingEvent.objects.values_list("status", flat=True)
    ) != {"processed"}:
        time.sleep(0.05)
    assert set(IncomingEvent.objects.values_list("status", flat=True)) == {"processed"}
