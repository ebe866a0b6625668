"""The API shape of payments and refunds (DESIGN section 4), in one place.

The API views, the 402 error body and outgoing webhooks all render a payment through
`render_payment`, so a merchant sees the same object everywhere.
"""

from __future__ import annotations

from typing import Any

from fraud import selectors as fraud_selectors
from payments.models import Payment, Refund

# The fraud view a service already has in hand, kept on the instance (like Django's prefetch
# cache) so rendering the response does not read the assessment back.
_FRAUD_ATTR = "_rendered_fraud"


def remember_fraud(payment: Payment, *, score: int, decision: str, rules: tuple[str, ...]) -> None:
    payment.__dict__[_FRAUD_ATTR] = {"score": score, "decision": decision, "rules": list(rules)}


def render_fraud(payment: Payment) -> dict[str, Any] | None:
    if _FRAUD_ATTR in payment.__dict__:
        return dict(payment.__dict__[_FRAUD_ATTR])
    assessment = fraud_selectors.assessment_for_payment(payment_id=payment.id)
    if assessment is None:
        return None
    return {
        "score": assessment.score,
        "decision": assessment.decision,
        "rules": list(assessment.rules),
    }


def render_payment_method(payment: Payment) -> dict[str, Any]:
    details = payment.method_details or {}
    if payment.method_type == "card":
        card = {
            key: details.get(key)
            for key in ("brand", "last4", "exp_month", "exp_year", "fingerprint", "country")
        }
        return {"type": "card", "card": card}
    if payment.method_type in ("bank_transfer", "qr"):
        # The reference the customer's transfer or QR payment carries (next_action has the rest).
        details = {**details, "reference": payment.reference}
    return {"type": payment.method_type, payment.method_type: dict(details)}


def render_payment(payment: Payment) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": payment.id,
        "object": "payment",
        "status": payment.status,
        "amount": payment.amount_minor,
        "amount_capturable": payment.amount_capturable_minor,
        "amount_captured": payment.amount_captured_minor,
        "amount_refunded": payment.amount_refunded_minor,
        "currency": payment.currency,
        "capture_method": payment.capture_method,
        "payment_method": render_payment_method(payment),
        "provider": payment.provider or None,
        "provider_reference": payment.provider_reference or None,
        "fraud": render_fraud(payment),
        "next_action": payment.next_action,
        "failure_code": payment.failure_code or None,
        "failure_message": payment.failure_message or None,
        "decline_code": payment.decline_code or None,
        "description": payment.description or None,
        "metadata": payment.metadata,
        "livemode": payment.livemode,
        "created": int(payment.created.timestamp()),
    }
    return body


def render_refund(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "payment": refund.payment_id,
        "amount": refund.amount_minor,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason or None,
        "created": int(refund.created.timestamp()),
    }
