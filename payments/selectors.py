"""Payment reads, always scoped to the merchant and mode that asks."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from core.errors import NotFound
from payments.models import Payment, Status


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
