"""Applying a provider's answer to an authorization: approved (held, or captured for a sale),
declined, waiting for 3-D Secure, or still unknown — at once, or late (the 3-D Secure return,
the status inquiry, a provider webhook, the stalled-payment sweep)."""

from __future__ import annotations

import logging

from django.db import transaction

from core.errors import CardDeclined, DomainError
from ledger import services as ledger
from payments.models import Payment, Status
from payments.representation import render_payment
from payments.services.booking import book_sale, mark_authorized, tell_fraud
from payments.services.events import record, save_and_record
from payments.services.inputs import Actor
from payments.services.locks import locked
from payments.services.modifications import capture_payment, require_success
from routing import services as routing
from routing.interface import Outcome

logger = logging.getLogger("qr.payments")

DECLINE_MESSAGES = {
    "generic_decline": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "processing_error": "An error occurred while processing the card.",
    "fraudulent": "The payment was declined as likely fraudulent.",
    "authentication_failed": "3-D Secure authentication failed.",
    "provider_unavailable": "No payment provider could process the payment.",
}
_FINAL = (Outcome.APPROVED, Outcome.HARD_DECLINE, Outcome.SOFT_DECLINE)


def apply_authorization(
    *,
    payment_id: str,
    outcome: Outcome,
    provider: str,
    attempt_id: str,
    provider_reference: str,
    decline_code: str,
    message: str,
    redirect_url: str,
    actor: Actor,
    captured: bool | None = None,
) -> Payment:
    """Apply a provider's answer to a payment awaiting it (processing or requires_action), and
    tell fraud the outcome it books, in one transaction.

    Idempotent: an answer for a payment that has already moved on is ignored, so a webhook, the
    status inquiry and the customer's return from 3-D Secure may all report the same outcome.
    A payment created with `capture: true` is captured as soon as it is authorized, however the
    authorization arrived (at once, after 3-D Secure, or after a timeout): when the provider
    captured it with the authorization (`captured`, or, when the caller does not know, the
    attempt was sent as a sale), both transitions and both postings happen here, in one
    transaction; otherwise a capture call follows.
    """
    payment, _ = book_answer(
        payment_id=payment_id,
        outcome=outcome,
        provider=provider,
        attempt_id=attempt_id,
        provider_reference=provider_reference,
        decline_code=decline_code,
        message=message,
        redirect_url=redirect_url,
        actor=actor,
        captured=captured,
    )
    return payment


def book_answer(
    *,
    payment_id: str,
    outcome: Outcome,
    provider: str,
    attempt_id: str,
    provider_reference: str,
    decline_code: str,
    message: str,
    redirect_url: str,
    actor: Actor,
    captured: bool | None,
) -> tuple[Payment, bool]:
    """`apply_authorization`, also saying whether the answer was booked (False: the payment
    had moved on, and neither it nor fraud's record changed)."""
    with transaction.atomic():
        payment = locked(payment_id, merchant_id=None, livemode=None)
        before = payment.status
        if payment.status == Status.REQUIRES_ACTION and outcome in _FINAL:
            payment.resume()  # the customer finished the challenge; the provider has decided
        if payment.status != Status.PROCESSING:
            if outcome == Outcome.APPROVED and payment.status in (Status.CANCELED, Status.FAILED):
                _return_stray_sale(payment, attempt_id=attempt_id, captured=captured, actor=actor)
            return payment, False
        if outcome == Outcome.APPROVED:
            mark_authorized(
                payment, provider=provider, attempt_id=attempt_id, reference=provider_reference
            )
            if payment.capture_method == "automatic" and _sold(captured, attempt_id=attempt_id):
                book_sale(payment, before=before, actor=actor, attempt_id=attempt_id)
                tell_fraud(payment)
                return payment, True
            ledger.place_hold(
                payment_id=payment.id,
                reference=f"{payment.id}:hold",
                merchant_id=payment.merchant_id,
                provider=payment.provider,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
            )
            reason = f"authorized by {provider}"
        else:
            payment.provider = provider or payment.provider
            payment.attempt_id = attempt_id or payment.attempt_id
            payment.provider_reference = provider_reference or payment.provider_reference
            reason = _apply_other(payment, outcome, provider, decline_code, message, redirect_url)
        save_and_record(payment, before=before, actor=actor, reason=reason, attempt_id=attempt_id)
        tell_fraud(payment)
    if payment.status == Status.AUTHORIZED and payment.capture_method == "automatic":
        payment = _auto_capture(payment, actor=actor)
    return payment, True


def _apply_other(
    payment: Payment,
    outcome: Outcome,
    provider: str,
    decline_code: str,
    message: str,
    redirect_url: str,
) -> str:
    """Apply an answer other than an approval; the reason its event gives."""
    if outcome == Outcome.REQUIRES_ACTION:
        payment.require_action(
            next_action={"type": "redirect_to_url", "redirect_to_url": {"url": redirect_url}}
        )
        return f"3-D Secure challenge at {provider}"
    if outcome == Outcome.TIMEOUT_UNKNOWN:
        return f"no answer from {provider}; status inquiry scheduled"
    code = decline_code or (
        "provider_unavailable" if outcome == Outcome.PROVIDER_ERROR else "generic_decline"
    )
    payment.fail(
        code="card_declined",
        message=DECLINE_MESSAGES.get(code, message or "The card was declined."),
        decline_code=code,
    )
    return f"{outcome.value}: {code}"


def apply_late_answer(
    *,
    payment_id: str,
    outcome: Outcome,
    provider: str,
    attempt_id: str,
    provider_reference: str,
    decline_code: str,
    message: str,
    redirect_url: str,
    actor: Actor,
) -> Payment:
    """`apply_authorization` for an answer that comes after the payment's request (the 3-D
    Secure return, the status inquiry, a provider webhook, the stalled-payment sweep): whether
    the provider captured is asked of routing (was the attempt sent as a sale)."""
    return apply_authorization(
        payment_id=payment_id,
        outcome=outcome,
        provider=provider,
        attempt_id=attempt_id,
        provider_reference=provider_reference,
        decline_code=decline_code,
        message=message,
        redirect_url=redirect_url,
        actor=actor,
        captured=None,
    )


def apply_failure(
    payment_id: str, *, actor: Actor, code: str, decline_code: str, message: str, reason: str
) -> Payment:
    """Fail a payment that is still processing (fraud blocked it, say), under its lock."""
    with transaction.atomic():
        payment = locked(payment_id, merchant_id=None, livemode=None)
        before = payment.status
        payment.fail(code=code, message=message, decline_code=decline_code)
        save_and_record(payment, before=before, actor=actor, reason=reason)
    return payment


def raise_declined(payment: Payment) -> None:
    raise CardDeclined(
        payment.failure_message or "The card was declined.",
        code=payment.failure_code or "card_declined",
        decline_code=payment.decline_code or None,
        payment=render_payment(payment),
    )


def _sold(captured: bool | None, *, attempt_id: str) -> bool:
    """Did the provider capture with the authorization it approved? Asked of routing only when
    the caller does not know (webhooks, status inquiries, the return from 3-D Secure): an
    approved attempt that was sent as a sale is captured."""
    if captured is not None:
        return captured
    return bool(attempt_id) and routing.sent_as_sale(attempt_id=attempt_id)


def _auto_capture(payment: Payment, *, actor: Actor) -> Payment:
    """Capture after authorizing. A failure leaves the payment authorized (and says so in the
    log and its event trail) rather than failing a request whose money is already held: the
    merchant can capture it later, or the authorization expires and is voided."""
    try:
        return capture_payment(
            payment_id=payment.id,
            merchant_id=None,
            livemode=None,
            amount_minor=None,
            actor=actor,
        )
    except DomainError as exc:
        logger.warning("automatic capture of %s failed: %s", payment.id, exc.message)
        payment = Payment.objects.get(pk=payment.id)
        record(
            payment,
            before=payment.status,
            actor=actor,
            reason=f"automatic capture failed: {exc.message}",
        )
        return payment


def _return_stray_sale(
    payment: Payment, *, attempt_id: str, captured: bool | None, actor: Actor
) -> None:
    """The provider approved — and, for a sale, captured — a payment we had already canceled or
    failed (the customer finished 3-D Secure after the payment was abandoned, a late answer to
    a timed-out call). Nothing was booked for it here, so the money goes back at the provider:
    a full refund with a reference derived from the attempt (a repeated report refunds once),
    sent after this transaction commits. An authorization that was not a sale lapses at the
    provider by itself."""
    attempt_id = attempt_id or payment.attempt_id
    if not _sold(captured, attempt_id=attempt_id):
        return
    logger.error(
        "provider captured %s after it was %s; refunding at the provider",
        payment.id,
        payment.status,
    )
    record(
        payment,
        before=payment.status,
        actor=actor,
        reason=f"provider captured after the payment was {payment.status}: refunded there",
        attempt_id=attempt_id,
    )

    def refund_at_provider() -> None:
        try:
            result = routing.refund(
                attempt_id=attempt_id,
                amount_minor=payment.amount_minor,
                refund_reference=f"{attempt_id}:returned",
            )
            require_success(result, action="refund")
        except DomainError as exc:
            logger.error("could not refund stray sale %s: %s", attempt_id, exc.message)

    transaction.on_commit(refund_at_provider, robust=True)
