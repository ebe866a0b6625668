"""Handlers for provider events that routing has verified and normalized."""

from __future__ import annotations

import logging

from payments import services
from payments.models import Payment
from routing.interface import Outcome, WebhookEvent

logger = logging.getLogger("qr.payments")


def on_provider_payment_event(event: WebhookEvent) -> None:
    """payment.succeeded / payment.failed for an attempt we are waiting on; a capture or refund
    the provider reports failed after accepting it."""
    if event.type in _FAILED_MODIFICATIONS:
        _report_failed_modification(event)
        return
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


_FAILED_MODIFICATIONS = {"payment.capture_failed": "capture", "payment.refund_failed": "refund"}


def _report_failed_modification(event: WebhookEvent) -> None:
    """Booked when the provider accepted it; the books are not unwound on a notification, and
    the provider may still carry it out (Adyen recaptures after some failures). Routing has
    marked the attempt failed, so the capture / refund error-rate SLIs count it."""
    # The payment's own provider reference: the event's reference is the refund's, for a refund.
    payment = Payment.objects.filter(
        provider=event.provider, provider_reference=event.provider_reference
    ).first()
    logger.error(
        "%s reports a %s of payment %s failed after accepting it (%s %s, reference %s): the"
        " books still show it done; check the provider's records before acting",
        event.provider,
        _FAILED_MODIFICATIONS[event.type],
        payment.id if payment else "(unknown)",
        event.amount_minor,
        event.currency,
        event.reference,
    )
