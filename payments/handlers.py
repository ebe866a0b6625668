"""Handlers for provider events that routing has verified and normalized."""

from __future__ import annotations

import logging

from core.errors import InvalidRequest, InvalidState
from payments import collection, services
from payments.models import Payment, UnappliedFunds
from routing.interface import Outcome, WebhookEvent

logger = logging.getLogger("qr.payments")


def on_provider_payment_event(event: WebhookEvent) -> None:
    """payment.succeeded / payment.failed for an attempt we are waiting on; a capture or refund
    the provider reports failed after accepting it."""
    if event.type in _FAILED_MODIFICATIONS:
        _report_failed_modification(event)
        return
    if event.type == "payment.succeeded" and event.data.get("qr_reference"):
        _complete_qr_payment(event)
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


def _complete_qr_payment(event: WebhookEvent) -> None:
    """A customer paid a QR payment: the provider names the payment's reference, the amount
    and the currency paid. Money that cannot complete it (another amount or currency, a
    payment no longer open, its link paid already, a provider it was not registered with) is
    booked as unapplied funds at the provider that collected it and held for finance to
    return (`collection.hold_unapplied_funds`)."""
    reference = collection.normalise_reference(str(event.data["qr_reference"]))
    payment = Payment.objects.filter(reference=reference, method_type=collection.QR).first()
    paid = event.data.get("amount_paid", event.amount_minor)
    if payment is None or not isinstance(paid, int) or paid <= 0:
        logger.error(
            "%s reports QR reference %s paid (%s %s): no such QR payment; return the money",
            event.provider,
            reference,
            paid,
            event.currency,
        )
        return
    source_reference = event.provider_reference or event.event_id
    currency = (event.currency or "").upper()
    refusal = _refusal(event, payment, currency)
    if refusal is None:
        try:
            collection.complete_collection(
                payment_id=payment.id,
                amount_minor=paid,
                currency=currency,
                source=f"provider:{event.provider}",
                source_reference=source_reference,
                actor=services.Actor.system(f"webhook:{event.provider}"),
            )
            return
        except (InvalidState, InvalidRequest) as exc:
            refusal = (_REASONS.get(exc.code, UnappliedFunds.Reason.NOT_OPEN), exc.message)
    reason, detail = refusal
    logger.error(
        "%s reports QR payment %s paid (%s %s) but it cannot be completed: %s; held as"
        " unapplied funds for finance to return",
        event.provider,
        payment.id,
        paid,
        currency,
        detail,
    )
    collection.hold_unapplied_funds(
        payment_id=payment.id,
        provider=event.provider,
        source_reference=source_reference,
        amount_minor=paid,
        currency=currency or payment.currency,
        reason=reason,
        detail=detail,
    )


_REASONS = {
    "amount_mismatch": UnappliedFunds.Reason.AMOUNT_MISMATCH,
    "currency_mismatch": UnappliedFunds.Reason.CURRENCY_MISMATCH,
}


def _refusal(event: WebhookEvent, payment: Payment, currency: str) -> tuple[str, str] | None:
    """Why the event cannot complete the payment before asking it: the provider that reports it
    is not the one the payment was registered with, or no currency was named."""
    if event.provider != payment.provider:
        return (
            UnappliedFunds.Reason.OTHER_PROVIDER,
            f"registered with {payment.provider or 'no provider'}, reported by {event.provider}",
        )
    if not currency:
        return UnappliedFunds.Reason.CURRENCY_MISMATCH, "the provider named no currency"
    return None


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
