"""The simulator follows Stripe's dispute test cards: a captured payment with 4000 0000 0000 0259
is disputed as fraudulent within seconds (opened, then the funds and the dispute fee withdrawn),
2685 as product_not_received, 1976 opens an inquiry; evidence whose uncategorized_text is
"winning_evidence" wins, "losing_evidence" loses, a moment after submission.

No database: the simulator subprocess, its signed webhooks to a local receiver, and the
simulator adapter."""

from __future__ import annotations

import time
from typing import Any

import pytest
from standardwebhooks import Webhook

from routing.adapters.simulator import SimulatorAdapter
from routing.interface import AuthorizeRequest, CardData, DisputeEventKind, Outcome
from routing.services.disputes import dispute_notice
from tests.fixtures.simulator import WEBHOOK_SECRET

FRAUDULENT = "4000000000000259"
NOT_RECEIVED = "4000000000002685"
INQUIRY = "4000000000001976"
FAST_S = 0.05  # dispute_delay_s for tests: "within seconds" made near-instant
# Long enough for anything scheduled after FAST_S to have been sent, before a marker event.
SETTLE_S = FAST_S * 4
WAIT_S = 5.0


@pytest.fixture
def adapter(sim, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    sim.control("sim-a", dispute_delay_s=FAST_S)
    adapter = sim.adapter("sim-a")
    yield adapter
    adapter.close()


def captured(adapter: SimulatorAdapter, number: str, reference: str = "att_dispute_1") -> str:
    result = adapter.authorize(
        AuthorizeRequest(
            reference=reference,
            amount_minor=2500,
            currency="EUR",
            method="card",
            card=CardData(number=number, exp_month=12, exp_year=2034, cvc="123"),
            capture=True,
        )
    )
    assert result.outcome == Outcome.APPROVED
    return result.provider_reference


def received(webhook_receiver, count: int) -> list[dict[str, Any]]:
    deliveries = webhook_receiver.wait(count, timeout_s=WAIT_S)
    return [Webhook(WEBHOOK_SECRET).verify(d.body, d.headers) for d in deliveries]


def test_fraudulent_test_card_is_disputed_after_capture(sim, adapter, webhook_receiver):
    auth_id = captured(adapter, FRAUDULENT)

    opened, withdrawn = received(webhook_receiver, 2)

    assert [opened["type"], withdrawn["type"]] == ["dispute.opened", "dispute.funds_withdrawn"]
    assert opened["data"]["id"] == withdrawn["data"]["id"]
    assert (opened["data"]["reason"], opened["data"]["status"]) == ("fraudulent", "needs_response")
    assert opened["data"]["evidence_due_by"] > opened["data"]["created"]
    assert (withdrawn["data"]["amount"], withdrawn["data"]["fee"]) == (2500, 1500)
    [dispute] = sim.disputes("sim-a")
    assert (dispute["authorization_id"], dispute["reference"]) == (auth_id, "att_dispute_1")
    assert dispute["funds_withdrawn"] is True


def test_not_received_test_card_is_disputed_with_its_reason(sim, adapter, webhook_receiver):
    captured(adapter, NOT_RECEIVED)

    opened, _ = received(webhook_receiver, 2)

    assert opened["data"]["reason"] == "product_not_received"


def test_dispute_test_card_is_not_disputed_before_capture(sim, adapter, webhook_receiver):
    result = adapter.authorize(
        AuthorizeRequest(
            reference="att_uncaptured",
            amount_minor=2500,
            currency="EUR",
            method="card",
            card=CardData(number=FRAUDULENT, exp_month=12, exp_year=2034, cvc="123"),
        )
    )
    assert result.outcome == Outcome.APPROVED
    time.sleep(SETTLE_S)
    sim.send_event("sim-a", "payment.succeeded", result.provider_reference)  # a marker

    [marker] = received(webhook_receiver, 1)

    assert marker["type"] == "payment.succeeded"
    assert sim.disputes("sim-a") == []


def test_inquiry_test_card_opens_an_inquiry_without_withdrawal(sim, adapter, webhook_receiver):
    captured(adapter, INQUIRY)

    [opened] = received(webhook_receiver, 1)
    time.sleep(SETTLE_S)
    sim.send_event("sim-a", "payment.succeeded", opened["data"]["authorization_id"])
    [marker] = received(webhook_receiver, 1)

    assert opened["type"] == "dispute.opened"
    assert opened["data"]["status"] == "warning_needs_response"
    assert opened["data"]["is_inquiry"] is True
    assert marker["type"] == "payment.succeeded"  # no funds_withdrawn came in between


def test_winning_evidence_wins_and_returns_the_funds(sim, adapter, webhook_receiver):
    captured(adapter, FRAUDULENT)
    opened, _ = received(webhook_receiver, 2)

    submission = adapter.submit_dispute_evidence(
        dispute_reference=opened["data"]["id"],
        evidence={"uncategorized_text": "winning_evidence", "customer_name": "Jenny Rosen"},
        file_names=["receipt.pdf"],
    )
    updated, reinstated, closed = received(webhook_receiver, 3)

    assert submission.accepted
    assert [updated["type"], reinstated["type"], closed["type"]] == [
        "dispute.updated",
        "dispute.funds_reinstated",
        "dispute.closed",
    ]
    assert updated["data"]["status"] == "under_review"
    assert closed["data"]["status"] == "won"
    [dispute] = sim.disputes("sim-a")
    assert dispute["evidence"]["customer_name"] == "Jenny Rosen"
    assert (dispute["file_names"], dispute["submission_count"]) == (["receipt.pdf"], 1)
    assert dispute["funds_reinstated"] is True


def test_losing_evidence_loses(sim, adapter, webhook_receiver):
    captured(adapter, NOT_RECEIVED)
    opened, _ = received(webhook_receiver, 2)

    adapter.submit_dispute_evidence(
        dispute_reference=opened["data"]["id"],
        evidence={"uncategorized_text": "losing_evidence"},
        file_names=[],
    )
    updated, closed = received(webhook_receiver, 2)

    assert [updated["type"], closed["type"]] == ["dispute.updated", "dispute.closed"]
    assert closed["data"]["status"] == "lost"
    assert closed["data"]["funds_reinstated"] is False


def test_other_evidence_stays_under_review(sim, adapter, webhook_receiver):
    captured(adapter, FRAUDULENT)
    opened, _ = received(webhook_receiver, 2)

    adapter.submit_dispute_evidence(
        dispute_reference=opened["data"]["id"],
        evidence={"uncategorized_text": "Delivered and signed for."},
        file_names=[],
    )
    [updated] = received(webhook_receiver, 1)
    time.sleep(SETTLE_S)
    sim.send_event("sim-a", "payment.succeeded", opened["data"]["authorization_id"])
    [marker] = received(webhook_receiver, 1)

    assert (updated["type"], updated["data"]["status"]) == ("dispute.updated", "under_review")
    assert marker["type"] == "payment.succeeded"  # nothing decided it meanwhile


def test_winning_evidence_closes_an_inquiry(sim, adapter, webhook_receiver):
    captured(adapter, INQUIRY)
    [opened] = received(webhook_receiver, 1)

    adapter.submit_dispute_evidence(
        dispute_reference=opened["data"]["id"],
        evidence={"uncategorized_text": "winning_evidence"},
        file_names=[],
    )
    updated, closed = received(webhook_receiver, 2)

    assert updated["data"]["status"] == "warning_under_review"
    assert (closed["type"], closed["data"]["status"]) == ("dispute.closed", "warning_closed")


def test_losing_evidence_escalates_an_inquiry_to_a_chargeback(sim, adapter, webhook_receiver):
    captured(adapter, INQUIRY)
    [opened] = received(webhook_receiver, 1)

    adapter.submit_dispute_evidence(
        dispute_reference=opened["data"]["id"],
        evidence={"uncategorized_text": "losing_evidence"},
        file_names=[],
    )
    _, escalated, withdrawn = received(webhook_receiver, 3)

    assert (escalated["type"], escalated["data"]["status"]) == ("dispute.updated", "needs_response")
    assert withdrawn["type"] == "dispute.funds_withdrawn"
    assert escalated["data"]["is_inquiry"] is False


def test_evidence_is_submitted_once(sim, adapter, webhook_receiver):
    captured(adapter, FRAUDULENT)
    opened, _ = received(webhook_receiver, 2)
    dispute_id = opened["data"]["id"]
    evidence = {"uncategorized_text": "Delivered."}

    first = adapter.submit_dispute_evidence(
        dispute_reference=dispute_id, evidence=evidence, file_names=[]
    )
    replay = adapter.submit_dispute_evidence(
        dispute_reference=dispute_id, evidence=evidence, file_names=[]
    )
    other = adapter.submit_dispute_evidence(
        dispute_reference=dispute_id, evidence={"uncategorized_text": "More."}, file_names=[]
    )

    assert (first.accepted, replay.accepted, other.accepted) == (True, True, False)
    assert other.message == "evidence was already submitted"
    [dispute] = sim.disputes("sim-a")
    assert dispute["submission_count"] == 1


def test_evidence_for_an_unknown_dispute_is_refused(adapter):
    submission = adapter.submit_dispute_evidence(
        dispute_reference="sdp_nope", evidence={"uncategorized_text": "x"}, file_names=[]
    )

    assert not submission.accepted
    assert submission.message == "no such dispute"


def test_every_simulator_dispute_event_parses_into_a_notice(adapter, webhook_receiver):
    captured(adapter, FRAUDULENT)
    first_two = webhook_receiver.wait(2, timeout_s=WAIT_S)
    [opened] = adapter.parse_webhook(body=first_two[0].body, headers=first_two[0].headers)
    adapter.submit_dispute_evidence(
        dispute_reference=opened.data["dispute_reference"],
        evidence={"uncategorized_text": "winning_evidence"},
        file_names=[],
    )
    deliveries = [*first_two, *webhook_receiver.wait(3, timeout_s=WAIT_S)]

    notices = [
        dispute_notice(event)
        for d in deliveries
        for event in adapter.parse_webhook(body=d.body, headers=d.headers)
    ]

    assert [n.kind for n in notices] == [
        DisputeEventKind.OPENED,
        DisputeEventKind.FUNDS_WITHDRAWN,
        DisputeEventKind.UPDATED,
        DisputeEventKind.FUNDS_REINSTATED,
        DisputeEventKind.CLOSED,
    ]
    assert [n.fee_minor for n in notices] == [0, 1500, 0, 0, 0]
    assert [n.status for n in notices] == [
        "needs_response", "needs_response", "under_review", "won", "won"
    ]  # fmt: skip
    assert {n.dispute_reference for n in notices} == {opened.data["dispute_reference"]}
    assert {(n.attempt_id, n.amount_minor, n.currency, n.reason) for n in notices} == {
        ("att_dispute_1", 2500, "EUR", "fraudulent")
    }
    assert len({n.event_id for n in notices}) == 5
    assert [n.occurred_at for n in notices] == sorted(n.occurred_at for n in notices)
