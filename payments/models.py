"""Payments, refunds and the log of every payment state transition.

The Payment state machine (DESIGN section 5) lives on django-fsm-2: the `@transition` methods
only declare the legal moves and set fields; `payments.services` locks the row, talks to
providers, posts the ledger and records the event around them. The status field is protected:
nothing can assign it directly.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform
from django_fsm import FSMField, transition

from core.ids import PrefixedIdField
from merchants.models import Merchant


class Status(models.TextChoices):
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    FAILED = "failed"


class Payment(models.Model):
    id = PrefixedIdField(prefix="pay", db_column="payment_id")
    # No index of its own: `payments_list` (merchant, livemode, created) leads with it, and each
    # payment's insert and booking would otherwise write one more index entry.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    livemode = models.BooleanField(default=False)
    status = FSMField(default=Status.PROCESSING, choices=Status.choices, protected=True)

    amount_minor = models.BigIntegerField(db_column="amount")
    currency = models.CharField(max_length=3)
    amount_capturable_minor = models.BigIntegerField(default=0)
    amount_captured_minor = models.BigIntegerField(default=0)
    amount_refunded_minor = models.BigIntegerField(default=0)
    capture_method = models.CharField(max_length=10, default="manual")  # manual | automatic

    method_type = models.CharField(max_length=20)  # card | wallet
    method_details = models.JSONField(default=dict)  # brand, last4, exp, fingerprint, wallet type
    token_id = models.CharField(max_length=40, blank=True, db_index=True)

    provider = models.CharField(max_length=40, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True, db_index=True)
    attempt_id = models.CharField(max_length=40, blank=True, db_index=True)

    fraud_assessment_id = models.CharField(max_length=40, blank=True)
    next_action = models.JSONField(null=True, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    decline_code = models.CharField(max_length=60, blank=True)

    description = models.CharField(max_length=1000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    customer_ip = models.GenericIPAddressField(null=True, blank=True)
    return_url = models.URLField(max_length=2000, blank=True)

    created = models.DateTimeField(auto_now_add=True, db_column="ts")
    updated = models.DateTimeField(auto_now=True)
    authorized_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        db_table = "payments"
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "-created"], name="payments_list"),
            models.Index(
                fields=["merchant", "livemode", "status", "-created"], name="payments_status"
            ),
            # The back office's search by a card's last four digits (payments/admin.py).
            models.Index(KeyTextTransform("last4", "method_details"), name="payments_card_last4"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_capturable_minor__gte=0)
                & Q(amount_captured_minor__gte=0)
                & Q(amount_refunded_minor__gte=0),
                name="payment_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_captured_minor__lte=F("amount_minor")),
                name="payment_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded_minor__lte=F("amount_captured_minor")),
                name="payment_refunded_within_captured",
            ),
        ]
        permissions = [
            ("capture_payment", "Can capture a payment"),
            ("refund_payment", "Can refund a payment"),
            ("cancel_payment", "Can cancel a payment"),
            ("view_sli_dashboard", "Can view the payments SLI dashboard"),
        ]

    def __str__(self) -> str:
        return self.id

    # --- transitions: the legal moves, nothing else (services do the work around them) ---

    @transition(field=status, source=Status.PROCESSING, target=Status.REQUIRES_ACTION)
    def require_action(self, *, next_action: dict) -> None:
        self.next_action = next_action

    @transition(field=status, source=Status.REQUIRES_ACTION, target=Status.PROCESSING)
    def resume(self) -> None:
        self.next_action = None

    @transition(field=status, source=Status.PROCESSING, target=Status.AUTHORIZED)
    def authorize(self, *, authorized_at, expires_at) -> None:
        self.amount_capturable_minor = self.amount_minor
        self.authorized_at = authorized_at
        self.expires_at = expires_at
        self.next_action = None

    @transition(
        field=status,
        source=[Status.PROCESSING, Status.REQUIRES_ACTION, Status.AUTHORIZED],
        target=Status.FAILED,
    )
    def fail(self, *, code: str, message: str, decline_code: str = "") -> None:
        self.failure_code = code
        self.failure_message = message[:500]
        self.decline_code = decline_code
        self.amount_capturable_minor = 0
        self.next_action = None

    @transition(field=status, source=Status.AUTHORIZED, target=Status.CAPTURED)
    def capture(self, *, amount_minor: int) -> None:
        self.amount_captured_minor = amount_minor
        self.amount_capturable_minor = 0  # a partial capture releases the rest

    @transition(
        field=status, source=[Status.AUTHORIZED, Status.REQUIRES_ACTION], target=Status.CANCELED
    )
    def cancel(self) -> None:
        self.amount_capturable_minor = 0
        self.next_action = None

    @transition(
        field=status,
        source=[Status.CAPTURED, Status.PARTIALLY_REFUNDED],
        target=Status.PARTIALLY_REFUNDED,
    )
    def refund_part(self, *, amount_minor: int) -> None:
        self.amount_refunded_minor += amount_minor

    @transition(
        field=status, source=[Status.CAPTURED, Status.PARTIALLY_REFUNDED], target=Status.REFUNDED
    )
    def refund_rest(self, *, amount_minor: int) -> None:
        self.amount_refunded_minor += amount_minor


class Refund(models.Model):
    class RefundStatus(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = PrefixedIdField(prefix="re")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=RefundStatus.choices)
    reason = models.CharField(max_length=40, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        return self.id


class PaymentEvent(models.Model):
    """One transition of a payment: from, to, who, why, when. Append-only."""

    # Indexed by `payment_events_by_payment` (payment, created), which leads with it.
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    actor = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        indexes = [models.Index(fields=["payment", "created"], name="payment_events_by_payment")]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.from_status} → {self.to_status}"
