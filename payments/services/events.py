"""A payment's transitions: saved with their PaymentEvent rows, and their outgoing webhooks
queued with the merchant's endpoints (merchants.webhooks), in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from core import rows
from merchants import webhooks
from payments.models import Payment, PaymentEvent, Status
from payments.representation import render_payment
from payments.services.inputs import Actor

EVENT_TYPES = {
    Status.REQUIRES_ACTION: "payment.requires_action",
    Status.AUTHORIZED: "payment.authorized",
    Status.CAPTURED: "payment.captured",
    Status.PARTIALLY_REFUNDED: "payment.refunded",
    Status.REFUNDED: "payment.refunded",
    Status.CANCELED: "payment.canceled",
    Status.FAILED: "payment.failed",
}


@dataclass(frozen=True)
class Transition:
    before: str
    payment: Payment  # as it stood right after the transition (what its webhook shows)
    reason: str
    data: dict[str, Any]


def record(payment: Payment, *, before: str, actor: Actor, reason: str = "", **data: Any) -> None:
    """Log a transition (one INSERT) and queue the merchant's webhook."""
    transitions = [Transition(before=before, payment=payment, reason=reason, data=data)]
    rows.insert_together(*event_rows(transitions, actor=actor))
    queue_webhooks(transitions)


def save_and_record(
    payment: Payment, *, before: str, actor: Actor, reason: str = "", **data: Any
) -> None:
    """Save the payment and log its transition in one statement; queue the webhook."""
    save_and_record_all(
        payment, [Transition(before=before, payment=payment, reason=reason, data=data)], actor=actor
    )


def save_and_record_all(payment: Payment, transitions: list[Transition], *, actor: Actor) -> None:
    """Save the payment and log the transitions it went through, in one statement (an UPDATE
    and an INSERT as data-modifying CTEs); queue their webhooks."""
    if not rows.save_together(payment, *event_rows(transitions, actor=actor)):
        # Cannot happen under the row lock every caller holds; if it did, the transaction must
        # not go on to post money for a row that was not written.
        raise RuntimeError(f"payment {payment.id} was not saved: its row is gone")
    queue_webhooks(transitions)


def event_rows(transitions: list[Transition], *, actor: Actor) -> list[PaymentEvent]:
    return [
        PaymentEvent(
            payment=t.payment,
            from_status=t.before,
            to_status=t.payment.status,
            actor=actor.name,
            reason=t.reason[:500],
            data=t.data,
        )
        for t in transitions
    ]


def queue_webhooks(transitions: list[Transition]) -> None:
    """Queue the transitions' webhooks for the merchant's endpoints (one look at them)."""
    events = []
    for t in transitions:
        event_type = EVENT_TYPES.get(t.payment.status)
        if event_type and (t.before != t.payment.status or event_type == "payment.refunded"):
            events.append((event_type, partial(render_payment, t.payment)))
    if events:
        first = transitions[0].payment
        webhooks.emit_events(merchant_id=first.merchant_id, livemode=first.livemode, events=events)
