"""Changes to an existing payment: capture, cancel (void) and refund.

Each is one transaction that locks the payment row, asks the provider (routing), applies the
FSM transition, posts the ledger and logs the event, so the payment, its log and its ledger
never disagree. Operations on one payment are serialized by its row lock, which is what makes
concurrent refunds and a capture racing a cancel safe.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db import transaction

from core.errors import InvalidRequest, ProviderUnavailable
from core.ids import base62_of
from ledger import services as ledger
from payments.models import Payment, Refund, Status
from payments.services.events import save_and_record
from payments.services.inputs import Actor
from payments.services.locks import illegal, locked
from routing import services as routing
from routing.interface import Outcome, ProviderResult


def capture_payment(
    *,
    payment_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    amount_minor: int | None,
    actor: Actor,
) -> Payment:
    """Capture all or part of an authorization; a partial capture releases the rest."""
    with transaction.atomic():
        payment = locked(payment_id, merchant_id=merchant_id, livemode=livemode)
        if payment.status != Status.AUTHORIZED:
            raise illegal(payment, "captured")
        amount_minor = payment.amount_capturable_minor if amount_minor is None else amount_minor
        if not 0 < amount_minor <= payment.amount_capturable_minor:
            raise InvalidRequest(
                f"amount must be between 1 and {payment.amount_capturable_minor} "
                f"(the amount capturable).",
                code="amount_too_large",
                param="amount",
            )
        result = routing.capture(attempt_id=payment.attempt_id, amount_minor=amount_minor)
        require_success(result, action="capture")
        before = payment.status
        payment.capture(amount_minor=amount_minor)
        released = payment.amount_minor - amount_minor
        save_and_record(
            payment,
            before=before,
            actor=actor,
            reason=f"captured {amount_minor}" + (f", released {released}" if released else ""),
        )
        ledger.capture_hold(
            payment_id=payment.id, reference=f"{payment.id}:capture", amount_minor=amount_minor
        )
    return payment


def cancel_payment(
    *,
    payment_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    actor: Actor,
    reason: str = "",
) -> Payment:
    """Void an authorization (or abandon a payment waiting for the customer)."""
    with transaction.atomic():
        payment = locked(payment_id, merchant_id=merchant_id, livemode=livemode)
        if payment.status not in (Status.AUTHORIZED, Status.REQUIRES_ACTION):
            raise illegal(payment, "canceled")
        before = payment.status
        if payment.status == Status.AUTHORIZED:
            result = routing.void(attempt_id=payment.attempt_id)
            require_success(result, action="void")
            ledger.release_hold(payment_id=payment.id, reference=f"{payment.id}:void")
        payment.cancel()
        save_and_record(payment, before=before, actor=actor, reason=reason or "canceled")
    return payment


def refund_payment(
    *,
    payment_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    amount_minor: int | None,
    reason: str,
    actor: Actor,
    idempotency_key: str = "",
) -> Refund:
    """Refund part or all of what was captured and not yet refunded.

    With an Idempotency-Key the refund's id (sent to the provider as its reference) is derived
    from the key, so a retry after a lost provider answer can never refund twice.
    """
    with transaction.atomic():
        payment = locked(payment_id, merchant_id=merchant_id, livemode=livemode)
        if payment.status not in (Status.CAPTURED, Status.PARTIALLY_REFUNDED):
            raise illegal(payment, "refunded")
        refundable = payment.amount_captured_minor - payment.amount_refunded_minor
        amount_minor = refundable if amount_minor is None else amount_minor
        if not 0 < amount_minor <= refundable:
            raise InvalidRequest(
                f"amount must be between 1 and {refundable} (captured minus refunded).",
                code="amount_too_large",
                param="amount",
            )
        refund = Refund(
            payment=payment,
            amount_minor=amount_minor,
            currency=payment.currency,
            reason=reason,
            actor=actor.name,
        )
        if idempotency_key:
            refund.id = _refund_id_for_key(payment.id, idempotency_key)
        result = routing.refund(
            attempt_id=payment.attempt_id, amount_minor=amount_minor, refund_reference=refund.id
        )
        require_success(result, action="refund")
        refund.status = Refund.RefundStatus.SUCCEEDED
        refund.provider_reference = result.provider_reference
        refund.save()
        before = payment.status
        if amount_minor == refundable:
            payment.refund_rest(amount_minor=amount_minor)
        else:
            payment.refund_part(amount_minor=amount_minor)
        save_and_record(
            payment,
            before=before,
            actor=actor,
            reason=f"refunded {amount_minor}",
            refund_id=refund.id,
        )
        ledger.post_refund(payment_id=payment.id, reference=refund.id, amount_minor=amount_minor)
    return refund


def _refund_id_for_key(payment_id: str, idempotency_key: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"refund:{payment_id}:{idempotency_key}".encode(), "sha256"
    ).digest()
    return f"re_{base62_of(int.from_bytes(digest[:16], 'big'))}"


def require_success(result: ProviderResult, *, action: str) -> None:
    """Nothing changes here unless the provider said yes: a 502 `api_error` when it could not
    be reached or did not answer (safe to retry with the same Idempotency-Key: the provider call
    carries the same reference), a 400 when it refused."""
    if result.outcome == Outcome.APPROVED:
        return
    if result.outcome in (Outcome.PROVIDER_ERROR, Outcome.TIMEOUT_UNKNOWN):
        raise ProviderUnavailable(
            f"The provider did not answer the {action}; nothing was changed. Retry with the "
            f"same Idempotency-Key.",
            code="provider_unavailable",
        )
    raise InvalidRequest(
        f"The provider refused the {action}: {result.decline_code or result.outcome.value}.",
        code=f"{action}_failed",
    )
