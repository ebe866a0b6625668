"""Provider dispute events: deduplicated, applied in the provider's order whatever order they
arrive in, never dropped — a dispute of a payment we do not know is kept for finance."""

from __future__ import annotations

import pytest
from django.db.models import F

from disputes import services
from disputes.models import Dispute, DisputeEvent, ProviderNotice, Status
from routing import events as routing_events
from routing.interface import DisputeEventKind as Kind
from tests.disputes.conftest import entries_by_kind, webhook_types
from tests.disputes.factories import notice

pytestmark = pytest.mark.django_db


def _dispute(reference: str = "dp_ref_1") -> Dispute:
    return Dispute.objects.get(provider_reference=reference)


def test_the_disputes_handler_is_registered_with_routing():
    assert routing_events.dispute_handler() is services.handle_notice


def test_an_opened_dispute_is_created_for_the_payment(captured, merchant, endpoint):
    payment = captured(amount_minor=7_500)
    services.handle_notice(notice(payment, reason="product_not_received"))
    dispute = _dispute()
    assert (dispute.payment_id, dispute.merchant_id) == (payment.id, merchant.merchant.id)
    assert (dispute.status, dispute.reason, dispute.amount_minor) == (
        "needs_response",
        "product_not_received",
        7_500,
    )
    assert not dispute.needs_finance_review
    assert webhook_types(dispute.id) == ["dispute.created"]
    event = DisputeEvent.objects.get(dispute=dispute)
    assert (event.from_status, event.to_status, event.actor) == (
        "",
        "needs_response",
        "system:webhook:sim-a",
    )


def test_an_inquiry_opens_as_a_warning(captured):
    services.handle_notice(notice(captured(), status="warning_needs_response", reason="general"))
    assert _dispute().status == "warning_needs_response"


def test_a_redelivered_event_is_applied_once(captured):
    payment = captured()
    services.handle_notice(notice(payment, event_id="evt_same"))
    withdrawn = notice(payment, kind=Kind.FUNDS_WITHDRAWN, minutes=1, fee_minor=1500)
    services.handle_notice(withdrawn)
    services.handle_notice(withdrawn)
    services.handle_notice(notice(payment, event_id="evt_same", minutes=2))

    assert ProviderNotice.objects.filter(dispute=_dispute()).count() == 2
    entries = entries_by_kind(payment.id)
    assert (len(entries["chargeback"]), len(entries["chargeback_fee"])) == (2, 2)  # once each


def test_a_stale_event_never_moves_the_state_back(captured):
    payment = captured()
    services.handle_notice(notice(payment, minutes=0))
    services.handle_notice(notice(payment, kind=Kind.UPDATED, status="under_review", minutes=10))
    # An update from before the review arrives late.
    late = notice(payment, kind=Kind.UPDATED, status="needs_response", minutes=5)
    row = services.handle_notice(late)
    assert _dispute().status == "under_review"
    assert row.outcome.startswith("stale")


def test_an_opened_event_after_the_close_is_recorded_but_does_not_reopen(captured):
    payment = captured()
    services.handle_notice(notice(payment, kind=Kind.CLOSED, status="lost", minutes=30))
    row = services.handle_notice(notice(payment, kind=Kind.OPENED, minutes=0))
    dispute = _dispute()
    assert dispute.status == "lost"
    assert row.dispute_id == dispute.id and row.outcome.startswith("stale")
    # Even a newer "opened" (a provider bug) cannot reopen a closed dispute.
    services.handle_notice(notice(payment, kind=Kind.OPENED, minutes=60))
    assert _dispute().status == "lost"


def test_events_arriving_in_reverse_order_end_in_the_providers_final_state(captured):
    payment = captured()
    fee = 1500
    sequence = [
        notice(payment, kind=Kind.OPENED, minutes=0),
        notice(payment, kind=Kind.FUNDS_WITHDRAWN, minutes=1, fee_minor=fee),
        notice(payment, kind=Kind.UPDATED, status="under_review", minutes=2),
        notice(payment, kind=Kind.FUNDS_REINSTATED, status="won", minutes=3),
        notice(payment, kind=Kind.CLOSED, status="won", minutes=4),
    ]
    for event in reversed(sequence):
        services.handle_notice(event)
    dispute = _dispute()
    assert (dispute.status, dispute.withdrawal_posted, dispute.reinstatement_posted) == (
        "won",
        True,
        True,
    )
    assert dispute.fee_minor == fee
    entries = entries_by_kind(payment.id)
    assert sorted(entries["chargeback"]) == [
        ("merchant_payable", 10_000, 0),
        ("psp_receivable", 0, 10_000),
    ]
    assert sorted(entries["chargeback_fee"]) == [
        ("merchant_payable", fee, 0),
        ("psp_receivable", 0, fee),
    ]
    assert sorted(entries["chargeback_reversal"]) == sorted(
        [("psp_receivable", 10_000, 0), ("merchant_payable", 0, 10_000)]
    )
    assert "chargeback_fee_reversal" not in entries  # the provider kept its fee


def test_a_dispute_of_an_unknown_payment_is_kept_and_flagged_for_finance():
    services.handle_notice(notice(None, payment_reference="ch_never_seen"))
    services.handle_notice(notice(None, kind=Kind.FUNDS_WITHDRAWN, minutes=1, fee_minor=1500))
    dispute = _dispute()
    assert dispute.payment_id is None and dispute.merchant_id is None
    assert dispute.needs_finance_review
    assert "ch_never_seen" in dispute.finance_review_reason
    assert dispute.funds_withdrawn_at is not None and not dispute.withdrawal_posted


def test_a_dispute_larger_than_the_capture_is_flagged(captured):
    payment = captured(amount_minor=1_000)
    services.handle_notice(notice(payment, amount_minor=2_000))
    assert _dispute().needs_finance_review


def test_an_escalated_inquiry_needs_new_evidence_and_takes_the_funds(captured):
    payment = captured()
    services.handle_notice(notice(payment, status="warning_needs_response", minutes=0))
    services.handle_notice(
        notice(payment, kind=Kind.UPDATED, status="warning_under_review", minutes=1)
    )
    services.handle_notice(notice(payment, kind=Kind.UPDATED, status="needs_response", minutes=2))
    services.handle_notice(
        notice(payment, kind=Kind.FUNDS_WITHDRAWN, status="needs_response", minutes=3, fee_minor=9)
    )
    dispute = _dispute()
    assert (dispute.status, dispute.withdrawal_posted, dispute.fee_minor) == (
        "needs_response",
        True,
        9,
    )
    transitions = list(
        DisputeEvent.objects.filter(dispute=dispute)
        .exclude(from_status=F("to_status"))
        .values_list("to_status", flat=True)
    )
    assert transitions == ["warning_needs_response", "warning_under_review", "needs_response"]


def test_the_provider_closing_a_dispute_sends_dispute_closed(captured, endpoint):
    payment = captured()
    services.handle_notice(notice(payment, minutes=0))
    services.handle_notice(notice(payment, kind=Kind.UPDATED, status="under_review", minutes=1))
    services.handle_notice(notice(payment, kind=Kind.CLOSED, status="lost", minutes=2))
    assert webhook_types(_dispute().id) == [
        "dispute.created",
        "dispute.updated",
        "dispute.closed",
    ]
    assert _dispute().status == Status.LOST
