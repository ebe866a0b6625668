"""Handlers for provider events that routing has verified and normalized."""

from __future__ import annotations

import logging

from payments import services
from payments.models import Payment
from routing.interface import Outcome, WebhookEvent

logger = logging.getLogger("qr.payments")


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
    if event.type in ("payment.capture_failed", "payment.refund_failed"):
        # Booked when the provider accepted it; the books are not unwound on a notification.
        # Routing has marked the attempt failed (the capture / refund error-rate SLIs count it).
        logger.error(
            "%s reports a %s of payment %s failed after accepting it (%s %s): the books still"
            " show it done; re-send it or correct the books",
            event.provider,
            event.type.removeprefix("payment.").removesuffix("_failed"),
            payment.id,
            event.amount_minor,
            event.currency,
        )
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
