"""Booking a provider's approval: the payment's transitions, the ledger's postings and fraud's
record of the outcome, in one transaction.

A sale (authorized and captured by one provider call) goes from processing to captured with
its hold and the hold's capture posted together (`ledger.book_sale`). A new sale is booked on
the payment exactly as its creator stored it, without a locked read: the UPDATE is a
compare-and-set on the row's status and `updated` (`book_sale_as_stored`).
"""

from __future__ import annotations

import copy
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import rows
from fraud import services as fraud
from ledger import services as ledger
from payments.models import Payment, Status
from payments.services.events import (
    Transition,
    event_rows,
    queue_webhooks,
    save_and_record_all,
)
from payments.services.inputs import Actor

logger = logging.getLogger("qr.payments")


def mark_authorized(payment: Payment, *, provider: str, attempt_id: str, reference: str) -> None:
    """Apply an approval to the payment in memory: who authorized it, and until when."""
    payment.provider = provider or payment.provider
    payment.attempt_id = attempt_id or payment.attempt_id
    payment.provider_reference = reference or payment.provider_reference
    now = timezone.now()
    payment.authorize(
        authorized_at=now, expires_at=now + timedelta(seconds=settings.PAYMENTS_AUTH_EXPIRY_S)
    )


def tell_fraud(payment: Payment) -> None:
    """fraud's record of the outcome the payment now shows: anything but a failure counts as
    not declined (captured, authorized, 3-D Secure pending, or still unknown after a timeout);
    a later answer books through here again and overwrites it."""
    fraud.record_outcome(
        payment_id=payment.id,
        approved=payment.status != Status.FAILED,
        decline_code=payment.decline_code,
    )


def book_sale(payment: Payment, *, before: str, actor: Actor, attempt_id: str) -> Payment:
    """The provider authorized and captured in one call: the payment (authorized in memory)
    goes on to captured in the caller's transaction, with the hold and its capture posted
    together."""
    transitions = sale_transitions(payment, before=before, attempt_id=attempt_id)
    save_and_record_all(payment, transitions, actor=actor)
    ledger.book_sale(_sale(payment))
    return payment


def sale_transitions(payment: Payment, *, before: str, attempt_id: str) -> list[Transition]:
    """Capture an authorized payment in full; the two transitions it went through."""
    authorized = copy.copy(payment)  # what the payment.authorized event shows
    payment.capture(amount_minor=payment.amount_minor)
    return [
        Transition(
            before=before,
            payment=authorized,
            reason=f"authorized by {payment.provider}",
            data={"attempt_id": attempt_id},
        ),
        Transition(
            before=Status.AUTHORIZED,
            payment=payment,
            reason=f"captured {payment.amount_minor} with the authorization",
            data={},
        ),
    ]


def _sale(payment: Payment) -> ledger.Sale:
    """What the ledger books for a sale of this payment: its hold and the hold's full capture."""
    return ledger.Sale(
        payment_id=payment.id,
        hold_reference=f"{payment.id}:hold",
        capture_reference=f"{payment.id}:capture",
        merchant_id=payment.merchant_id,
        provider=payment.provider,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
    )


class _ChangedSince(Exception):
    """The payment's row is not the one this process stored: roll back, take the locked path."""


# The row as create_payment stored it: still processing, and not written since (`updated`).
_AS_STORED = (
    f"{connection.ops.quote_name('status')} = %s AND {connection.ops.quote_name('updated')} = %s"
)


def book_sale_as_stored(
    payment: Payment, *, provider: str, attempt_id: str, provider_reference: str, actor: Actor
) -> Payment | None:
    """Book an approved sale on the payment exactly as its creator stored it, without reading
    it first: one statement saves it as captured only if its row is still the one stored
    (processing, not written since: a compare-and-set instead of a locked read) and logs both
    transitions; then, in the same transaction, the ledger posts the hold and its capture and
    fraud records the approval. None when the row had changed (a status inquiry or an operator
    got there first): nothing is kept, and the caller books through `apply_authorization`,
    which locks and looks."""
    stored_updated = payment.updated
    mark_authorized(payment, provider=provider, attempt_id=attempt_id, reference=provider_reference)
    transitions = sale_transitions(payment, before=Status.PROCESSING, attempt_id=attempt_id)
    try:
        with transaction.atomic():
            saved = rows.save_together_when(
                payment,
                *event_rows(transitions, actor=actor),
                when=_AS_STORED,
                params=(Status.PROCESSING, stored_updated),
            )
            if not saved.updated:
                raise _ChangedSince
            ledger.book_sale(_sale(payment))
            tell_fraud(payment)
            queue_webhooks(transitions)
    except _ChangedSince:
        logger.info("payment %s changed before its sale was booked; booking it locked", payment.id)
        return None
    return payment
