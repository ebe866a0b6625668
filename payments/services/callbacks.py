"""What other apps tell payments: routing's status inquiry, the customer's return from 3-D
Secure, and fraud review's rejection (reached through the registries in payments/apps.py)."""

from __future__ import annotations

from core.errors import NotFound
from payments.models import Payment, Status
from payments.services.authorization import apply_late_answer
from payments.services.inputs import Actor
from payments.services.modifications import cancel_payment, refund_payment
from routing import services as routing
from routing.interface import Outcome, ProviderResult


def on_attempt_resolved(attempt_id: str, payment_id: str, result: ProviderResult) -> None:
    """Routing's status inquiry found out what happened to an attempt that timed out."""
    apply_late_answer(
        payment_id=payment_id,
        outcome=result.outcome,
        provider=result.provider,
        attempt_id=attempt_id,
        provider_reference=result.provider_reference,
        decline_code=result.decline_code,
        message=result.message,
        redirect_url=result.redirect_url,
        actor=Actor.system("status_inquiry"),
    )


def complete_three_ds(*, payment_id: str) -> Payment:
    """The customer came back from the 3-D Secure challenge: ask the provider what happened."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(f"No such payment: '{payment_id}'")
    if payment.status != Status.REQUIRES_ACTION or not payment.attempt_id:
        return payment
    result = routing.resolve_unknown_attempt(attempt_id=payment.attempt_id)
    if result.outcome in (Outcome.TIMEOUT_UNKNOWN, Outcome.PROVIDER_ERROR, Outcome.REQUIRES_ACTION):
        return payment  # still waiting; a webhook or a later return settles it
    return apply_late_answer(
        payment_id=payment.id,
        outcome=result.outcome,
        provider=payment.provider,
        attempt_id=payment.attempt_id,
        provider_reference=result.provider_reference,
        decline_code=result.decline_code,
        message=result.message,
        redirect_url="",
        actor=Actor.system("three_ds_return"),
    )


def reject_for_fraud(payment_id: str, actor: str, reason: str) -> str:
    """The fraud review queue rejected a payment: cancel it, or refund what was captured."""
    payment = Payment.objects.get(pk=payment_id)
    who = Actor(actor)
    if payment.status in (Status.AUTHORIZED, Status.REQUIRES_ACTION):
        cancel_payment(
            payment_id=payment_id,
            merchant_id=None,
            livemode=None,
            actor=who,
            reason=f"fraud review: {reason}",
        )
        return "canceled"
    if payment.status in (Status.CAPTURED, Status.PARTIALLY_REFUNDED):
        refund_payment(
            payment_id=payment_id,
            merchant_id=None,
            livemode=None,
            amount_minor=None,
            reason="fraudulent",
            actor=who,
            # A retried rejection sends the provider the same refund reference: it refunds once.
            idempotency_key=f"fraud-review:{payment_id}",
        )
        return "refunded"
    return f"nothing to do ({payment.status})"
