"""Payment writes, by concern: creation and authorization (`create`, `authorization`),
booking an approval (`booking`), capture, cancel and refund (`modifications`), beat jobs
(`sweeps`), other apps' news (`callbacks`), and the event log with its webhooks (`events`).

Callers import the public names from here.
"""

from payments.services.authorization import (
    DECLINE_MESSAGES,
    apply_authorization,
    apply_late_answer,
)
from payments.services.callbacks import complete_three_ds, on_attempt_resolved, reject_for_fraud
from payments.services.create import create_payment
from payments.services.events import EVENT_TYPES
from payments.services.inputs import Actor, NewPayment
from payments.services.modifications import cancel_payment, capture_payment, refund_payment
from payments.services.sweeps import (
    EXPIRY_BATCH_SIZE,
    STALLED_AFTER_S,
    expire_authorizations,
    settle_stalled_payments,
)

__all__ = [
    "DECLINE_MESSAGES",
    "EVENT_TYPES",
    "EXPIRY_BATCH_SIZE",
    "STALLED_AFTER_S",
    "Actor",
    "NewPayment",
    "apply_authorization",
    "apply_late_answer",
    "cancel_payment",
    "capture_payment",
    "complete_three_ds",
    "create_payment",
    "expire_authorizations",
    "on_attempt_resolved",
    "refund_payment",
    "reject_for_fraud",
    "settle_stalled_payments",
]
