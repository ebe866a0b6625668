"""Dispute evidence submitted to the provider through its adapter: Stripe's dispute update with
submit=true and Adyen's Disputes API (supplyDefenseDocument, then defendDispute), replayed from
exchanges recorded from their API references; and routing's `submit_dispute_evidence` picking
the adapter by provider name, against the live simulator."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs

import pytest

from core.errors import NotFound
from routing import services
from routing.adapters.adyen import AdyenAdapter
from routing.adapters.pdf import text_pdf
from routing.adapters.stripe import StripeAdapter
from routing.interface import EvidenceSubmission
from tests.fixtures.simulator import WEBHOOK_SECRET
from tests.routing.replay import ReplayServer, load

DISPUTE = "du_1MtJUT2eZvKYlo2CNaw2HvEv"
ADYEN_DISPUTE = "V4HZ4RBFJGXXGN82"


@pytest.fixture
def server():
    replay = ReplayServer()
    yield replay
    replay.close()


@pytest.fixture
def stripe_adapter(server) -> StripeAdapter:
    return StripeAdapter("stripe", api_key="sk_test_fixture", timeout_s=0.5, api_base=server.url)


@pytest.fixture
def adyen_adapter(server) -> AdyenAdapter:
    return AdyenAdapter(
        "adyen",
        api_key="AQE_fixture",
        merchant_account="TestMerchant",
        timeout_s=0.5,
        api_base=server.url,
    )


# -- Stripe ---------------------------------------------------------------------------------


def test_stripe_evidence_is_submitted_on_the_dispute(stripe_adapter, server):
    server.expect(load("stripe", "dispute_update_submit"))

    submission = stripe_adapter.submit_dispute_evidence(
        dispute_reference=DISPUTE,
        evidence={"uncategorized_text": "winning_evidence", "customer_name": "Jenny Rosen"},
        file_names=["receipt.pdf", "tracking.png"],
    )

    assert submission == EvidenceSubmission(accepted=True, message="under_review")
    [sent] = server.received
    assert (sent.method, sent.path) == ("POST", f"/v1/disputes/{DISPUTE}")
    form = parse_qs(sent.body.decode())
    assert form["evidence[uncategorized_text]"] == ["winning_evidence"]
    assert form["evidence[customer_name]"] == ["Jenny Rosen"]
    assert form["submit"] == ["true"]
    assert form["metadata[evidence_files]"] == ["receipt.pdf, tracking.png"]
    assert sent.headers["idempotency-key"].startswith(f"{DISPUTE}:evidence:")


def test_stripe_fields_it_does_not_know_go_to_uncategorized_text(stripe_adapter, server):
    server.expect(load("stripe", "dispute_update_submit"))

    stripe_adapter.submit_dispute_evidence(
        dispute_reference=DISPUTE,
        evidence={"uncategorized_text": "Delivered.", "delivery_photo_note": "At the door"},
        file_names=[],
    )

    form = parse_qs(server.received[0].body.decode())
    assert form["evidence[uncategorized_text]"] == ["Delivered.\ndelivery_photo_note: At the door"]
    assert "evidence[delivery_photo_note]" not in form
    assert "metadata[evidence_files]" not in form


def test_same_stripe_evidence_is_sent_with_the_same_idempotency_key(stripe_adapter, server):
    for _ in range(2):
        server.expect(load("stripe", "dispute_update_submit"))
        stripe_adapter.submit_dispute_evidence(
            dispute_reference=DISPUTE, evidence={"uncategorized_text": "x"}, file_names=[]
        )

    first, second = (r.headers["idempotency-key"] for r in server.received)
    assert first == second


def test_stripe_refusal_is_not_accepted(stripe_adapter, server):
    server.expect(load("stripe", "dispute_update_closed_400"))

    submission = stripe_adapter.submit_dispute_evidence(
        dispute_reference=DISPUTE, evidence={"uncategorized_text": "x"}, file_names=[]
    )

    assert submission == EvidenceSubmission(
        accepted=False, message="This dispute is already closed"
    )


def test_unreachable_stripe_is_not_accepted():
    adapter = StripeAdapter(
        "stripe", api_key="sk_test_fixture", timeout_s=0.5, api_base="http://127.0.0.1:9"
    )

    submission = adapter.submit_dispute_evidence(
        dispute_reference=DISPUTE, evidence={"uncategorized_text": "x"}, file_names=[]
    )

    assert not submission.accepted
    assert submission.message


# -- Adyen ----------------------------------------------------------------------------------


def test_adyen_evidence_is_supplied_as_a_document_then_the_dispute_defended(adyen_adapter, server):
    server.expect(load("adyen", "disputes_supply_defense_document"))
    server.expect(load("adyen", "disputes_defend_dispute"))

    submission = adyen_adapter.submit_dispute_evidence(
        dispute_reference=ADYEN_DISPUTE,
        evidence={
            "uncategorized_text": "Signed for (J. Smith)",
            "defense_reason_code": "GoodsOrServicesProvided",
        },
        file_names=["receipt.pdf"],
    )

    assert submission == EvidenceSubmission(accepted=True, message="defended")
    supply, defend = server.received
    assert supply.path == "/ca/services/DisputeService/v30/supplyDefenseDocument"
    supplied = json.loads(supply.body)
    assert (supplied["disputePspReference"], supplied["merchantAccountCode"]) == (
        ADYEN_DISPUTE,
        "TestMerchant",
    )
    [document] = supplied["defenseDocuments"]
    assert (document["contentType"], document["defenseDocumentTypeCode"]) == (
        "application/pdf",
        "DefenseMaterial",
    )
    pdf = base64.b64decode(document["content"])
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert b"Signed for \\(J. Smith\\)" in pdf
    assert b"receipt.pdf" in pdf
    assert b"GoodsOrServicesProvided" not in pdf
    assert defend.path == "/ca/services/DisputeService/v30/defendDispute"
    assert json.loads(defend.body) == {
        "disputePspReference": ADYEN_DISPUTE,
        "merchantAccountCode": "TestMerchant",
        "defenseReasonCode": "GoodsOrServicesProvided",
    }


def test_adyen_refusal_is_not_accepted(adyen_adapter, server):
    server.expect(load("adyen", "disputes_supply_defense_document"))
    server.expect(load("adyen", "disputes_defend_dispute_refused"))

    submission = adyen_adapter.submit_dispute_evidence(
        dispute_reference=ADYEN_DISPUTE, evidence={"uncategorized_text": "x"}, file_names=[]
    )

    assert submission == EvidenceSubmission(
        accepted=False, message="Dispute defense period has expired"
    )
    assert json.loads(server.received[1].body)["defenseReasonCode"] == "SupplyDefenseMaterial"


def test_generated_pdf_cross_reference_points_at_its_objects():
    pdf = text_pdf("Dispute defense", ["line"] * 130)  # three pages

    start = int(re.search(rb"startxref\n(\d+)", pdf)[1])
    assert pdf[start:].startswith(b"xref")
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n ", pdf)]
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert b"/Count 3" in pdf


# -- routing's service, against the live simulator ------------------------------------------


def test_service_submits_through_the_named_providers_adapter(providers, sim, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    auth = sim.client.post(
        "/sim-a/v1/authorizations",
        json={"reference": "att_ev_1", "amount": 1000, "currency": "EUR", "capture": True,
              "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034}},
    ).json()  # fmt: skip
    dispute = sim.open_dispute("sim-a", auth["id"], reason="product_not_received")

    submission = services.submit_dispute_evidence(
        provider="sim-a",
        dispute_reference=dispute["id"],
        evidence={"product_description": "Blue mug", "shipping_tracking_number": ""},
        file_names=["proof.pdf"],
    )

    assert submission == EvidenceSubmission(accepted=True, message="under_review")
    [held] = sim.disputes("sim-a")
    assert held["evidence"] == {"product_description": "Blue mug"}
    assert (held["file_names"], held["status"]) == (["proof.pdf"], "under_review")


def test_service_refuses_an_unknown_provider(providers):
    with pytest.raises(NotFound):
        services.submit_dispute_evidence(
            provider="nobody", dispute_reference="du_1", evidence={}, file_names=[]
        )


def test_unreachable_simulator_is_not_accepted(providers, sim):
    sim.control("sim-a", outage=True)

    submission = services.submit_dispute_evidence(
        provider="sim-a", dispute_reference="sdp_1", evidence={}, file_names=[]
    )

    assert not submission.accepted
