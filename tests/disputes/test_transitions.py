"""Every legal dispute transition, every illegal one refused (by the FSM, and over the API as a
400 `dispute_invalid_state`), each recorded with who or what made it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from disputes import services
from disputes.models import Dispute, DisputeEvent, Status
from tests.disputes.factories import DisputeFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
# (method, its keyword arguments, the sources it allows, its target)
TRANSITIONS = [
    (
        "escalate",
        {},
        {Status.WARNING_NEEDS_RESPONSE, Status.WARNING_UNDER_REVIEW, Status.WARNING_CLOSED},
        Status.NEEDS_RESPONSE,
    ),
    ("review_inquiry", {}, {Status.WARNING_NEEDS_RESPONSE}, Status.WARNING_UNDER_REVIEW),
    (
        "close_inquiry",
        {"at": NOW},
        {Status.WARNING_NEEDS_RESPONSE, Status.WARNING_UNDER_REVIEW},
        Status.WARNING_CLOSED,
    ),
    ("review", {}, {Status.NEEDS_RESPONSE}, Status.UNDER_REVIEW),
    ("win", {"at": NOW}, {Status.NEEDS_RESPONSE, Status.UNDER_REVIEW, Status.LOST}, Status.WON),
    ("lose", {"at": NOW}, {Status.NEEDS_RESPONSE, Status.UNDER_REVIEW}, Status.LOST),
    (
        "accept",
        {"at": NOW},
        {Status.NEEDS_RESPONSE, Status.WARNING_NEEDS_RESPONSE},
        Status.ACCEPTED,
    ),
]
CASES = [
    pytest.param(
        method, kwargs, source, target if source in sources else None, id=f"{method}-{source}"
    )
    for method, kwargs, sources, target in TRANSITIONS
    for source in Status
]


@pytest.mark.parametrize(("method", "kwargs", "source", "target"), CASES)
def test_each_transition_is_legal_only_from_its_sources(method, kwargs, source, target):
    dispute = Dispute(
        status=source, amount_minor=100, currency="EUR", provider="sim-a", provider_reference="r"
    )
    if target is None:
        with pytest.raises(TransitionNotAllowed):
            getattr(dispute, method)(**kwargs)
        assert dispute.status == source
    else:
        getattr(dispute, method)(**kwargs)
        assert dispute.status == target


def test_status_cannot_be_assigned_directly(captured):
    dispute = DisputeFactory(payment=captured())
    with pytest.raises(AttributeError):
        dispute.status = Status.WON


def _error(response) -> dict:
    return response.json()["error"]


@pytest.mark.parametrize(
    "status",
    [Status.UNDER_REVIEW, Status.WARNING_UNDER_REVIEW, Status.WON, Status.LOST, Status.ACCEPTED],
)
def test_accepting_a_dispute_not_awaiting_a_response_is_a_400(api, captured, status):
    dispute = DisputeFactory(payment=captured(), status=status)
    response = api.post(f"/api/disputes/{dispute.id}/accept", format="json")
    assert response.status_code == 400
    assert _error(response)["code"] == "dispute_invalid_state"
    assert _error(response)["type"] == "invalid_request_error"
    assert Dispute.objects.get(pk=dispute.id).status == status


@pytest.mark.parametrize(
    "status",
    [
        Status.UNDER_REVIEW,
        Status.WARNING_UNDER_REVIEW,
        Status.WARNING_CLOSED,
        Status.WON,
        Status.LOST,
        Status.ACCEPTED,
    ],
)
def test_evidence_for_a_dispute_not_awaiting_it_is_a_400(api, captured, status):
    dispute = DisputeFactory(payment=captured(), status=status)
    response = api.post(
        f"/api/disputes/{dispute.id}/evidence",
        {"evidence": {"uncategorized_text": "late"}},
        format="json",
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "dispute_invalid_state"


def test_accept_over_the_api_is_recorded_with_the_api_key(api, captured, merchant):
    dispute = DisputeFactory(payment=captured())
    response = api.post(f"/api/disputes/{dispute.id}/accept", format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    event = DisputeEvent.objects.filter(dispute_id=dispute.id).last()
    assert (event.from_status, event.to_status) == ("needs_response", "accepted")
    assert event.actor.startswith("api:key_")


def test_accept_in_the_console_is_recorded_with_the_staff_member(captured):
    dispute = DisputeFactory(payment=captured(), status=Status.WARNING_NEEDS_RESPONSE)
    services.accept_dispute(
        dispute_id=dispute.id,
        merchant_id=None,
        livemode=None,
        actor=services.Actor.staff("agent7"),
    )
    event = DisputeEvent.objects.filter(dispute_id=dispute.id).last()
    assert (event.to_status, event.actor) == ("accepted", "admin:agent7")


def test_the_deadline_clock_is_recorded_as_the_system(captured):
    dispute = DisputeFactory(
        payment=captured(), evidence_due_by=timezone.now() - timedelta(minutes=1)
    )
    assert services.mark_overdue_lost() == 1
    event = DisputeEvent.objects.filter(dispute_id=dispute.id).last()
    assert (event.from_status, event.to_status, event.actor) == (
        "needs_response",
        "lost",
        "system:deadline",
    )
