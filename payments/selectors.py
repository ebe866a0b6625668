"""Payment reads, always scoped to the merchant and mode that asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from core.errors import NotFound
from payments.models import Payment, PaymentEvent, Status


def payments_for(
    *,
    merchant_id: str,
    livemode: bool,
    status: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
) -> QuerySet[Payment]:
    queryset = Payment.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if status:
        queryset = queryset.filter(status=status)
    if created_gte:
        queryset = queryset.filter(created__gte=created_gte)
    if created_lte:
        queryset = queryset.filter(created__lte=created_lte)
    return queryset


def payment(*, payment_id: str, merchant_id: str, livemode: bool) -> Payment:
    found = Payment.objects.filter(
        pk=payment_id, merchant_id=merchant_id, livemode=livemode
    ).first()
    if found is None:
        raise NotFound(f"No such payment: '{payment_id}'", param="id")
    return found


STATUSES = [choice.value for choice in Status]


@dataclass(frozen=True)
class DisputedPayment:
    """What disputes needs of the payment a provider disputes."""

    payment_id: str
    merchant_id: str
    livemode: bool
    amount_minor: int
    amount_captured_minor: int
    currency: str
    provider: str


def payment_for_dispute(
    *, provider: str, provider_reference: str, attempt_id: str
) -> DisputedPayment | None:
    """The payment a provider's dispute names: by our attempt id when the provider echoes it,
    else by the provider's own reference of the charge; None when we know neither."""
    found = None
    if attempt_id:
        found = Payment.objects.filter(attempt_id=attempt_id, provider=provider).first()
    if found is None and provider_reference:
        found = Payment.objects.filter(
            provider=provider, provider_reference=provider_reference
        ).first()
    if found is None:
        return None
    return DisputedPayment(
        payment_id=found.id,
        merchant_id=found.merchant_id,
        livemode=found.livemode,
        amount_minor=found.amount_minor,
        amount_captured_minor=found.amount_captured_minor,
        currency=found.currency,
        provider=found.provider,
    )


@dataclass(frozen=True)
class PaymentTransition:
    at: datetime
    from_status: str
    to_status: str
    actor: str
    reason: str


def payment_transitions(*, payment_id: str) -> list[PaymentTransition]:
    """A payment's transitions, oldest first (the disputes console shows them)."""
    return [
        PaymentTransition(
            at=event.created,
            from_status=event.from_status,
            to_status=event.to_status,
            actor=event.actor,
            reason=event.reason,
        )
        for event in PaymentEvent.objects.filter(payment_id=payment_id).order_by("created", "id")
    ]
