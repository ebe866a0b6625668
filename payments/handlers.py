"""Handlers for provider events that routing has verified and normalized."""

from __future__ import annotations

from payments import services
from payments.models import Payment
from routing.interface import Outcome, WebhookEvent


def on_provider_payment_event(event: WebhookEvent) -> None:
    """payment.succeeded / payment.failed for an attempt we are waiting on."""
    payment = (
        Payment.objects.filter(attempt_id=event.reference).first()
        if event.reference
        else Payment.objects.filter(
            provider=event.provider, provider_reference=event.provider_reference
        ).first()
    )
    if payment is None:
        return
    outcome = {"payment.succeeded": Outcome.APPROVED, "payment.failed": Outcome.HARD_DECLINE}.get(
        event.type
    )
    if outcome is None:
        return
    services.apply_late_answer(
        payment_id=payment.id,
        outcome=outcome,
        provider=event.provider,
        attempt_id=payment.attempt_id,
        provider_reference=event.provider_reference,
        decline_code=str(event.data.get("decline_code", "")),
        message="",
        redirect_url="",
        actor=services.Actor.system(f"webhook:{event.provider}"),
    )
