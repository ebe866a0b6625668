"""Beat jobs over many payments: expire old authorizations, book payments left processing."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import InvalidRequest, InvalidState, ProviderUnavailable
from payments.models import Payment, Status
from payments.services.authorization import DECLINE_MESSAGES, apply_late_answer
from payments.services.events import save_and_record
from payments.services.inputs import Actor
from payments.services.locks import locked
from payments.services.modifications import cancel_payment
from routing import selectors as routing_selectors
from routing.interface import Outcome

logger = logging.getLogger("qr.payments")

EXPIRY_BATCH_SIZE = 500
STALLED_AFTER_S = 120  # longer than any provider timeout: a live request is done by then
_SETTLED_OUTCOMES = (Outcome.APPROVED, Outcome.HARD_DECLINE, Outcome.SOFT_DECLINE)


def expire_authorizations(
    *, now: datetime | None = None, batch_size: int = EXPIRY_BATCH_SIZE
) -> int:
    """Void authorizations past their expiry (7 days by default) and cancel payments left
    waiting for the customer (3-D Secure) past PAYMENTS_REQUIRES_ACTION_TTL_S; returns how
    many."""
    now = now or timezone.now()
    due = list(
        Payment.objects.filter(status=Status.AUTHORIZED, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    abandoned_before = now - timedelta(seconds=settings.PAYMENTS_REQUIRES_ACTION_TTL_S)
    due += list(
        Payment.objects.filter(status=Status.REQUIRES_ACTION, created__lte=abandoned_before)
        .order_by("created")
        .values_list("pk", flat=True)[:batch_size]
    )
    expired = 0
    for payment_id in due:
        try:
            cancel_payment(
                payment_id=payment_id,
                merchant_id=None,
                livemode=None,
                actor=Actor.system("expiry"),
                reason="expired",
            )
            expired += 1
        except (InvalidState, InvalidRequest, ProviderUnavailable) as exc:
            # Captured or canceled meanwhile, or the provider is down: the next run retries.
            logger.warning("could not expire %s: %s", payment_id, exc)
    return expired


def settle_stalled_payments(
    *,
    now: datetime | None = None,
    older_than_s: int = STALLED_AFTER_S,
    batch_size: int = EXPIRY_BATCH_SIZE,
) -> int:
    """Book payments left `processing` although their provider has answered: the booking failed
    after the answer (a database error, a crash between the two). The latest authorize attempt,
    when it has a final outcome, is applied as if it had just arrived; one without is the
    status inquiry's. A payment with no attempt at all was never sent to a provider (attempts
    are written before any call, after the payment): it failed before routing could try (the
    vault, Redis or the database failing mid-request), and fails now, with
    `processing_error`. Returns how many payments moved on."""
    now = now or timezone.now()
    stalled = list(
        Payment.objects.filter(
            status=Status.PROCESSING, created__lte=now - timedelta(seconds=older_than_s)
        )
        .order_by("created")
        .values_list("pk", flat=True)[:batch_size]
    )
    settled = 0
    for payment_id in stalled:
        attempts = routing_selectors.attempts_for_payment(payment_id=payment_id, kind="authorize")
        # Only the latest attempt speaks for the payment: after a cascade, an earlier decline
        # says nothing while a later attempt is still unknown.
        attempt = attempts[-1] if attempts else None
        if attempt is None:
            settled += _fail_unsent(payment_id).status != Status.PROCESSING
            continue
        if attempt.outcome not in _SETTLED_OUTCOMES:
            continue
        payment = apply_late_answer(
            payment_id=payment_id,
            outcome=Outcome(attempt.outcome),
            provider=attempt.provider,
            attempt_id=attempt.id,
            provider_reference=attempt.provider_reference,
            decline_code=attempt.decline_code,
            message=attempt.message,
            redirect_url="",
            actor=Actor.system("settle_stalled"),
        )
        settled += payment.status != Status.PROCESSING
    return settled


def _fail_unsent(payment_id: str) -> Payment:
    """Fail a payment no provider was asked about, if it is still processing (under its lock)."""
    with transaction.atomic():
        payment = locked(payment_id, merchant_id=None, livemode=None)
        if payment.status != Status.PROCESSING:
            return payment
        before = payment.status
        payment.fail(
            code="processing_error",
            message=DECLINE_MESSAGES["processing_error"],
            decline_code="processing_error",
        )
        save_and_record(
            payment,
            before=before,
            actor=Actor.system("settle_stalled"),
            reason="never sent to a provider: the request failed before routing tried one",
        )
    return payment
