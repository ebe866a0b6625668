"""Disputes test factories: captured payments booked in the ledger, and provider notices.

`CapturedPaymentFactory` makes a payment as a sale leaves it (captured, with the ledger's hold
and capture postings), in either mode, without a provider call: what a dispute needs of it.
`notice(...)` makes the `DisputeNotice` routing would hand over for a provider event.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from django.db import transaction
from django.utils import timezone

from disputes.models import Dispute
from disputes.models import Status as DisputeStatus
from ledger import services as ledger
from payments.models import Payment
from payments.models import Status as PaymentStatus
from routing.interface import DisputeEventKind, DisputeNotice

_events = itertools.count(1)
BASE_TIME = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


class CapturedPaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment
        skip_postgeneration_save = True

    merchant = None  # required: pass merchant=<Merchant>
    livemode = False
    status = PaymentStatus.CAPTURED
    amount_minor = 10_000
    amount_captured_minor = factory.SelfAttribute("amount_minor")
    currency = "EUR"
    capture_method = "automatic"
    method_type = "card"
    method_details = factory.LazyFunction(lambda: {"brand": "visa", "last4": "0259"})
    provider = factory.LazyAttribute(lambda p: "stripe" if p.livemode else "sim-a")
    provider_reference = factory.LazyFunction(lambda: f"ch_{uuid.uuid4().hex[:20]}")
    attempt_id = factory.LazyFunction(lambda: f"att_{uuid.uuid4().hex[:20]}")

    @factory.post_generation
    def booked(payment: Payment, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted is not False:
            with transaction.atomic():  # a sale is booked inside a transaction
                _book(payment)


def _book(payment: Payment) -> None:
    """The sale's hold and capture, as payments books them."""
    ledger.place_and_capture_hold(
        payment_id=payment.id,
        hold_reference=f"{payment.id}:auth",
        capture_reference=f"{payment.id}:capture",
        merchant_id=payment.merchant_id,
        provider=payment.provider,
        amount_minor=payment.amount_captured_minor,
        currency=payment.currency,
        livemode=payment.livemode,
    )


def notice(
    payment: Payment | None,
    *,
    kind: DisputeEventKind = DisputeEventKind.OPENED,
    status: str = "needs_response",
    dispute_reference: str = "dp_ref_1",
    minutes: int = 0,
    event_id: str | None = None,
    amount_minor: int | None = None,
    fee_minor: int = 0,
    reason: str = "fraudulent",
    due_in_days: int | None = 7,
    provider: str | None = None,
    payment_reference: str | None = None,
) -> DisputeNotice:
    """A provider's dispute event, `minutes` after BASE_TIME."""
    occurred_at = BASE_TIME + timedelta(minutes=minutes)
    return DisputeNotice(
        provider=provider or (payment.provider if payment else "sim-a"),
        event_id=event_id or f"evt_dispute_{next(_events)}",
        kind=kind,
        dispute_reference=dispute_reference,
        payment_reference=payment_reference
        if payment_reference is not None
        else (payment.provider_reference if payment else "ch_unknown"),
        attempt_id="",
        amount_minor=amount_minor
        if amount_minor is not None
        else (payment.amount_captured_minor if payment else 5_000),
        currency=payment.currency if payment else "EUR",
        reason=reason,
        status=status,
        evidence_due_by=occurred_at + timedelta(days=due_in_days) if due_in_days else None,
        fee_minor=fee_minor,
        occurred_at=occurred_at,
        raw={"id": dispute_reference},
    )


class DisputeFactory(factory.django.DjangoModelFactory):
    """A dispute in a given state (`status=`), as the services would have left it."""

    class Meta:
        model = Dispute

    payment = None  # pass payment=<Payment>, or leave None for an unknown payment
    merchant = factory.LazyAttribute(lambda d: d.payment.merchant if d.payment else None)
    livemode = factory.LazyAttribute(lambda d: d.payment.livemode if d.payment else False)
    status = DisputeStatus.NEEDS_RESPONSE
    reason = "fraudulent"
    amount_minor = factory.LazyAttribute(
        lambda d: d.payment.amount_captured_minor if d.payment else 5_000
    )
    currency = "EUR"
    evidence_due_by = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    provider = factory.LazyAttribute(lambda d: d.payment.provider if d.payment else "sim-a")
    provider_reference = factory.LazyFunction(lambda: f"du_{uuid.uuid4().hex[:20]}")
