"""Creating a payment: read the card, assess fraud, store the payment, authorize with routing
and book the answer.

The payment row is committed first (status `processing`, with its first event), the provider
is called through routing with no transaction open, and the answer is booked in a second
transaction; a slow provider never holds a transaction, and a crash leaves a `processing`
payment that the status inquiry or the stalled-payment sweep resolves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core import rows
from fraud import services as fraud
from payments.models import Payment, Status
from payments.representation import remember_fraud
from payments.services.authorization import (
    DECLINE_MESSAGES,
    apply_failure,
    book_answer,
    raise_declined,
)
from payments.services.booking import book_sale_as_stored, tell_fraud
from payments.services.events import Transition, event_rows
from payments.services.inputs import Actor, NewPayment
from routing import services as routing
from routing.interface import Outcome, WalletData
from tokenization import selectors as vault

logger = logging.getLogger("qr.payments")


@dataclass(frozen=True)
class _Method:
    """What the payment knows of how it is paid: the card's facts (none for a wallet) and,
    for a card, the token's sealed card for routing to detokenize without reading it again."""

    type: str  # "card" | "wallet"
    details: dict[str, Any]
    card: vault.TokenInfo | None
    sealed_card: vault.SealedCard | None

    def facts(self) -> dict[str, str]:
        """What the fraud engine and the router both know of the card."""
        card = self.card
        return {
            "brand": card.brand if card else "",
            "bin": card.bin if card else "",
            "card_country": card.country if card else "",
        }


def create_payment(*, request: NewPayment, actor: Actor) -> Payment:
    """Create and authorize a payment (and capture it when asked).

    Raises CardDeclined (402) with the failed payment inside when the card is declined or the
    payment is blocked as fraud; the failed payment is stored either way.
    """
    method = _read_method(request)
    payment = _new_payment(request, method)
    assessment = _assess(payment, request, method)
    _store(payment, actor=actor)
    if assessment.decision == "block":
        _block(payment, assessment, actor=actor)
    outcome = _authorize(payment, request, method, assessment)
    payment = _book(payment, outcome, request=request, actor=actor)
    remember_fraud(
        payment, score=assessment.score, decision=assessment.decision, rules=assessment.rules
    )
    if payment.status == Status.FAILED:
        raise_declined(payment)
    return payment


def _read_method(request: NewPayment) -> _Method:
    if not request.token_id:
        return _Method("wallet", {"type": request.wallet_type}, card=None, sealed_card=None)
    sealed_card = vault.sealed_card(
        token_id=request.token_id, merchant_id=request.merchant_id, livemode=request.livemode
    )
    card = sealed_card.info
    details = {
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
        "country": card.country,
    }
    return _Method("card", details, card=card, sealed_card=sealed_card)


def _new_payment(request: NewPayment, method: _Method) -> Payment:
    """The payment, not yet stored (its id is drawn already)."""
    return Payment(
        merchant_id=request.merchant_id,
        livemode=request.livemode,
        amount_minor=request.amount_minor,
        currency=request.currency,
        capture_method="automatic" if request.capture else "manual",
        method_type=method.type,
        method_details=method.details,
        token_id=request.token_id,
        description=request.description,
        metadata=request.metadata or {},
        customer_email=request.customer_email,
        customer_ip=request.customer_ip,
        return_url=request.return_url,
    )


def _assess(payment: Payment, request: NewPayment, method: _Method) -> fraud.AssessmentResult:
    """fraud scores and stores its assessment; the payment points at it."""
    card = method.card
    assessment = fraud.assess(
        request=fraud.AssessmentRequest(
            payment_id=payment.id,
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            method=method.type,
            card_fingerprint=card.fingerprint if card else "",
            last4=card.last4 if card else "",
            **method.facts(),
            email=request.customer_email,
            ip=request.customer_ip or "",
        ),
    )
    payment.fraud_assessment_id = assessment.assessment_id
    return assessment


def _store(payment: Payment, *, actor: Actor) -> None:
    """The payment and its first event, in one statement (atomic by itself)."""
    created = [Transition(before="", payment=payment, reason="created", data={})]
    rows.insert_together(payment, *event_rows(created, actor=actor))


def _block(payment: Payment, assessment: fraud.AssessmentResult, *, actor: Actor) -> None:
    """Fail a payment fraud blocked, before any provider is asked; raises CardDeclined."""
    failed = apply_failure(
        payment.id,
        actor=actor,
        code="card_declined",
        decline_code="fraudulent",
        message=DECLINE_MESSAGES["fraudulent"],
        reason=f"blocked by fraud rules: {', '.join(assessment.rules) or 'score'}",
    )
    remember_fraud(
        failed, score=assessment.score, decision=assessment.decision, rules=assessment.rules
    )
    raise_declined(failed)


def _authorize(
    payment: Payment, request: NewPayment, method: _Method, assessment: fraud.AssessmentResult
) -> routing.AuthorizationOutcome:
    return routing.authorize(
        request=routing.PaymentRoutingRequest(
            payment_id=payment.id,
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            method=method.type,
            token_id=request.token_id,
            wallet=WalletData(type=request.wallet_type, token=request.wallet_token)
            if method.type == "wallet"
            else None,
            **method.facts(),
            card_fingerprint=method.card.fingerprint if method.card else "",
            sealed_card=method.sealed_card,
            # A sale: the provider captures on approval, in the same call (no second round trip).
            capture=request.capture,
            return_url=f"{settings.PUBLIC_BASE_URL.rstrip('/')}/pay/return/{payment.id}",
            three_ds_required=assessment.decision == "challenge",
        ),
    )


def _book(
    payment: Payment, outcome: routing.AuthorizationOutcome, *, request: NewPayment, actor: Actor
) -> Payment:
    """Book routing's answer: a new sale on the payment as stored (no locked read), anything
    else (or a sale whose payment changed meanwhile) under the payment's lock. fraud learns the
    outcome in the booking's transaction, or on its own when the payment had moved on."""
    try:
        if outcome.outcome == Outcome.APPROVED and outcome.captured and request.capture:
            sold = book_sale_as_stored(
                payment,
                provider=outcome.provider,
                attempt_id=outcome.attempt_id,
                provider_reference=outcome.provider_reference,
                actor=actor,
            )
            if sold is not None:
                return sold
        booked, was_booked = book_answer(
            payment_id=payment.id,
            outcome=outcome.outcome,
            provider=outcome.provider,
            attempt_id=outcome.attempt_id,
            provider_reference=outcome.provider_reference,
            decline_code=outcome.decline_code,
            message=outcome.message,
            redirect_url=outcome.redirect_url,
            actor=actor,
            captured=outcome.captured,
        )
    except Exception:
        if outcome.outcome != Outcome.APPROVED:
            raise
        # The provider said yes (for a sale: took the money) and booking it failed here. A 5xx
        # would free the Idempotency-Key and a retry would charge again: answer with the
        # payment as it stands (processing), like a timeout; `settle_stalled_payments` books it
        # once the attempt shows the answer.
        logger.exception("booking the approval of %s failed; left processing", payment.id)
        _tell_fraud_approved(payment.id)  # the sweep's booking records it again
        return Payment.objects.get(pk=payment.id)
    if not was_booked:  # the payment had moved on: fraud learns what it shows
        tell_fraud(booked)
    return booked


def _tell_fraud_approved(payment_id: str) -> None:
    """Tell fraud the provider approved, when booking the approval failed."""
    try:
        fraud.record_outcome(payment_id=payment_id, approved=True)
    except Exception:  # fraud's counts miss one approval; the payment is unaffected
        logger.exception("could not record fraud's outcome of %s", payment_id)
