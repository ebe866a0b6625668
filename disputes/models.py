"""Disputes (chargebacks and inquiries), their evidence, notes, transition log and reminders.

The Dispute state machine lives on django-fsm-2: the `@transition` methods declare the legal
moves and set fields; `disputes.services` locks the row, posts the ledger, records the
`DisputeEvent` and queues the merchant's webhook around them. The status field is protected.

    warning_needs_response ─► warning_under_review ─► warning_closed
            │      └───────────────┬──────────────────────┘
            └──────────────────────┴─► needs_response (an inquiry escalated to a chargeback)
    needs_response ─► under_review ─► won | lost
          ├──► accepted (the merchant gives up)
          └──► won | lost (the provider decides without evidence; our clock marks it lost)
    lost (by our clock) ─► won (the provider decided for the merchant after all)
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from core.ids import PrefixedIdField


class Status(models.TextChoices):
    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    WARNING_CLOSED = "warning_closed"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    ACCEPTED = "accepted"


OPEN_STATUSES = (
    Status.WARNING_NEEDS_RESPONSE,
    Status.WARNING_UNDER_REVIEW,
    Status.NEEDS_RESPONSE,
    Status.UNDER_REVIEW,
)
CLOSED_STATUSES = (Status.WARNING_CLOSED, Status.WON, Status.LOST, Status.ACCEPTED)
# Where evidence can still be saved and submitted.
AWAITING_EVIDENCE = (Status.WARNING_NEEDS_RESPONSE, Status.NEEDS_RESPONSE)


class Reason(models.TextChoices):
    FRAUDULENT = "fraudulent"
    PRODUCT_NOT_RECEIVED = "product_not_received"
    PRODUCT_UNACCEPTABLE = "product_unacceptable"
    DUPLICATE = "duplicate"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    CREDIT_NOT_PROCESSED = "credit_not_processed"
    UNRECOGNIZED = "unrecognized"
    BANK_CANNOT_PROCESS = "bank_cannot_process"
    CHECK_RETURNED = "check_returned"
    CUSTOMER_INITIATED = "customer_initiated"
    DEBIT_NOT_AUTHORIZED = "debit_not_authorized"
    INCORRECT_ACCOUNT_DETAILS = "incorrect_account_details"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    GENERAL = "general"


class Dispute(models.Model):
    id = PrefixedIdField(prefix="dp")
    # Empty when the provider disputes a payment we cannot find: kept, flagged for finance.
    payment = models.ForeignKey(
        "payments.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
    )
    merchant = models.ForeignKey(
        "merchants.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
        db_index=False,  # led by `disputes_list`
    )
    livemode = models.BooleanField(default=False)
    status = FSMField(default=Status.NEEDS_RESPONSE, choices=Status.choices, protected=True)
    reason = models.CharField(max_length=40, choices=Reason.choices, default=Reason.GENERAL)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    fee_minor = models.BigIntegerField(default=0)
    evidence_due_by = models.DateTimeField(null=True, blank=True)

    provider = models.CharField(max_length=40)
    provider_reference = models.CharField(max_length=100)  # the provider's dispute id
    payment_reference = models.CharField(max_length=100, blank=True)  # the provider's charge id
    provider_status = models.CharField(max_length=30, blank=True)  # as the provider last said

    needs_finance_review = models.BooleanField(default=False)
    finance_review_reason = models.CharField(max_length=500, blank=True)
    # Money: what the provider took and gave back, and whether the ledger has booked it.
    funds_withdrawn_at = models.DateTimeField(null=True, blank=True)
    funds_reinstated_at = models.DateTimeField(null=True, blank=True)
    fee_returned_minor = models.BigIntegerField(default=0)
    withdrawal_posted = models.BooleanField(default=False)
    reinstatement_posted = models.BooleanField(default=False)
    lost_by_deadline = models.BooleanField(default=False)  # our clock, not the provider, said so

    # The newest provider event applied to the state: an older one never moves it back.
    last_event_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "-created"], name="disputes_list"),
            models.Index(fields=["status", "evidence_due_by"], name="disputes_deadline_queue"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_reference"], name="dispute_unique_per_provider"
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="dispute_amount_positive"),
            models.CheckConstraint(
                condition=Q(fee_minor__gte=0) & Q(fee_returned_minor__gte=0),
                name="dispute_fees_not_negative",
            ),
        ]
        permissions = [
            ("submit_evidence", "Can save and submit evidence for a dispute"),
            ("accept_dispute", "Can accept a dispute (the merchant gives up)"),
        ]

    def __str__(self) -> str:
        return self.id

    # --- transitions: the legal moves, nothing else (services do the work around them) ---

    @transition(
        field=status,
        source=[Status.WARNING_NEEDS_RESPONSE, Status.WARNING_UNDER_REVIEW, Status.WARNING_CLOSED],
        target=Status.NEEDS_RESPONSE,
    )
    def escalate(self) -> None:
        """An inquiry became a chargeback."""
        self.closed_at = None

    @transition(
        field=status, source=Status.WARNING_NEEDS_RESPONSE, target=Status.WARNING_UNDER_REVIEW
    )
    def review_inquiry(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.WARNING_NEEDS_RESPONSE, Status.WARNING_UNDER_REVIEW],
        target=Status.WARNING_CLOSED,
    )
    def close_inquiry(self, *, at) -> None:
        self.closed_at = at

    @transition(field=status, source=Status.NEEDS_RESPONSE, target=Status.UNDER_REVIEW)
    def review(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.NEEDS_RESPONSE, Status.UNDER_REVIEW, Status.LOST],
        target=Status.WON,
    )
    def win(self, *, at) -> None:
        self.closed_at = at

    @transition(
        field=status, source=[Status.NEEDS_RESPONSE, Status.UNDER_REVIEW], target=Status.LOST
    )
    def lose(self, *, at, by_deadline: bool = False) -> None:
        self.closed_at = at
        self.lost_by_deadline = by_deadline

    @transition(
        field=status,
        source=[Status.NEEDS_RESPONSE, Status.WARNING_NEEDS_RESPONSE],
        target=Status.ACCEPTED,
    )
    def accept(self, *, at) -> None:
        self.closed_at = at


class DisputeEvent(models.Model):
    """One transition or notable fact of a dispute: from, to, who, why, when. Append-only."""

    dispute = models.ForeignKey(
        Dispute, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30)
    actor = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        indexes = [models.Index(fields=["dispute", "created"], name="dispute_events_by_dispute")]

    def __str__(self) -> str:
        return f"{self.dispute_id}: {self.from_status or 'new'} → {self.to_status}"


class ProviderNotice(models.Model):
    """Each provider dispute event once, by (provider, event_id): redeliveries are dropped
    here, and what each one did (applied, stale, ignored) stays visible."""

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=30)
    dispute_reference = models.CharField(max_length=100)
    dispute = models.ForeignKey(
        Dispute, null=True, on_delete=models.PROTECT, related_name="notices"
    )
    status = models.CharField(max_length=30, blank=True)  # what the provider said it is now
    occurred_at = models.DateTimeField()
    outcome = models.CharField(max_length=200, blank=True)  # what we did with it
    raw = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="dispute_notice_once_per_provider_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} ({self.kind})"


class Evidence(models.Model):
    """The dispute's evidence texts; read-only once submitted (services enforce it)."""

    dispute = models.OneToOneField(Dispute, on_delete=models.PROTECT, related_name="evidence")
    texts = models.JSONField(default=dict, blank=True)
    # Set (committed) before the provider is called, cleared or followed by submitted_at after.
    submitting_since = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.CharField(max_length=150, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return f"evidence for {self.dispute_id}"


class EvidenceFile(models.Model):
    """A file of evidence: stored under a random name outside any served directory."""

    id = PrefixedIdField(prefix="file")
    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="files")
    purpose = models.CharField(max_length=40)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=60)  # from the bytes, not from the client
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    stored_name = models.CharField(max_length=100, unique=True, editable=False)
    uploaded_by = models.CharField(max_length=150)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.id})"


class DisputeNote(models.Model):
    """A support or finance note on a dispute."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="notes")
    author = models.CharField(max_length=150)
    text = models.TextField(max_length=5000)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return f"note by {self.author} on {self.dispute_id}"


class MerchantContact(models.Model):
    """Where a merchant wants dispute deadline reminders sent (merchants keep no email)."""

    merchant = models.OneToOneField(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="dispute_contact"
    )
    email = models.EmailField()

    def __str__(self) -> str:
        return self.email


class Reminder(models.Model):
    """One deadline reminder (7, 3 or 1 days before `evidence_due_by`), recorded once each;
    the notification record the support console shows."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="reminders")
    days_before = models.PositiveSmallIntegerField()
    due_by = models.DateTimeField()  # a deadline the provider moves gets its own reminders
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dispute", "due_by", "days_before"], name="dispute_reminder_once_per_step"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dispute_id}: {self.days_before} day(s) before"
