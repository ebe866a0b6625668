"""Reading a payment for a change: its row locked until the end of the caller's transaction."""

from __future__ import annotations

from core import rows
from core.errors import InvalidState, NotFound
from payments.models import Payment

# Every money movement locks a payment: written once rather than compiled by the ORM.
_LOCKED_WHERE = "payment_id = %s"
_LOCKED_IN_SCOPE_WHERE = "payment_id = %s AND merchant_id = %s AND livemode = %s"


def locked(payment_id: str, *, merchant_id: str | None, livemode: bool | None) -> Payment:
    """The payment row, locked until the end of the caller's transaction; 404 outside scope."""
    if merchant_id is None:
        payment = rows.fetch(Payment, _LOCKED_WHERE, [payment_id], lock=True)
    else:
        payment = rows.fetch(
            Payment, _LOCKED_IN_SCOPE_WHERE, [payment_id, merchant_id, livemode], lock=True
        )
    if payment is None:
        raise NotFound(f"No such payment: '{payment_id}'", param="id")
    return payment


def illegal(payment: Payment, action: str) -> InvalidState:
    return InvalidState(
        f"This payment is {payment.status}; it cannot be {action}.",
        code="payment_invalid_state",
    )
