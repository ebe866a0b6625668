"""ledger.statements: bank statements as received, their lines, and finance's manual decisions.

A statement is stored once per file (sha256 of the bytes as received); each line once per
account and bank entry (`entry_key`), so a second import of the same file or an overlapping
statement adds nothing. A credit line carries its matching state; `ManualDecision` is the
append-only record of what finance staff decided and who (PostgreSQL refuses updates and
deletes, migration 0004). These models are imported by `ledger.models` so Django sees them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", "camt.053 (ISO 20022 XML)"
    MT940 = "mt940", "MT940 (SWIFT)"
    SYNTHETIC = "synthetic", "Synthetic (test mode)"


class LineState(models.TextChoices):
    UNMATCHED = "unmatched", "Unmatched (not yet matched)"
    MATCHED = "matched", "Matched"
    MANUAL_QUEUE = "manual_queue", "Needs a decision"
    HELD_OVERPAID = "held_overpaid", "Held: overpaid"
    HELD_UNDERPAID = "held_underpaid", "Held: underpaid"
    IGNORED = "ignored", "Ignored"


# The credit lines finance staff must decide on.
QUEUE_STATES = (LineState.MANUAL_QUEUE, LineState.HELD_OVERPAID, LineState.HELD_UNDERPAID)


class BankStatement(models.Model):
    """One statement file of one collection account, as received."""

    livemode = models.BooleanField()
    format = models.CharField(max_length=12, choices=StatementFormat.choices)
    account_iban = models.CharField(max_length=34)
    currency = models.CharField(max_length=3, blank=True)
    bank_statement_id = models.CharField(max_length=140, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    raw = models.BinaryField(editable=False)
    sha256 = models.CharField(max_length=64, unique=True)
    entries_count = models.PositiveIntegerField(default=0)
    duplicates_count = models.PositiveIntegerField(default=0)
    imported_by = models.CharField(max_length=160)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-imported_at", "-id"]
        permissions = [
            ("import_bank_statement", "Can upload bank statements"),
            ("match_bank_credit", "Can match bank credits to payments"),
        ]

    def __str__(self) -> str:
        return f"statement #{self.pk} {self.account_iban} {self.bank_statement_id}".strip()


class StatementLine(models.Model):
    """One entry of a statement: a credit (matched to a payment) or a debit (recorded only)."""

    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines")
    livemode = models.BooleanField()
    account_iban = models.CharField(max_length=34)
    # The bank's entry reference when it gives one, else a digest of what identifies the entry;
    # with the occurrence within the statement, so equal entries of one day stay distinct.
    entry_key = models.CharField(max_length=200)
    credit = models.BooleanField()
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    booking_date = models.DateField(null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    bank_reference = models.CharField(max_length=140, blank=True)
    end_to_end_id = models.CharField(max_length=140, blank=True)
    payer_name = models.CharField(max_length=140, blank=True)
    payer_iban = models.CharField(max_length=34, blank=True)
    remittance = models.TextField(blank=True)
    reference = models.CharField(max_length=35, blank=True)  # the RF reference found, if valid
    state = models.CharField(max_length=16, choices=LineState.choices, default=LineState.UNMATCHED)
    payment_id = models.CharField(max_length=64, blank=True)  # matched, or held against
    note = models.TextField(blank=True)  # why it is queued, held or ignored
    suggestions = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account_iban", "entry_key"], name="ledger_stmtline_entry_once"
            ),
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="ledger_stmtline_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(state__in=LineState.values), name="ledger_stmtline_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state=LineState.MATCHED) | ~Q(payment_id=""),
                name="ledger_stmtline_matched_has_payment",
            ),
            models.CheckConstraint(
                condition=Q(credit=True) | Q(state=LineState.IGNORED),
                name="ledger_stmtline_debit_ignored",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created"],
                condition=Q(state__in=[s.value for s in QUEUE_STATES]),
                name="ledger_stmtline_queue",
            ),
            models.Index(fields=["statement", "state"], name="ledger_stmtline_stmt_state"),
            models.Index(
                fields=["payment_id"], condition=~Q(payment_id=""), name="ledger_stmtline_payment"
            ),
        ]

    def __str__(self) -> str:
        sign = "+" if self.credit else "-"
        return f"line #{self.pk} {sign}{self.amount_minor} {self.currency}"


class DecisionKind(models.TextChoices):
    MATCHED = "matched", "Matched to a payment"
    IGNORED = "ignored", "Ignored"


class ManualDecision(models.Model):
    """What a finance user decided for a credit line, and when (never changed or deleted)."""

    line = models.ForeignKey(StatementLine, on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=8, choices=DecisionKind.choices)
    payment_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    username = models.CharField(max_length=150)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(decision=DecisionKind.MATCHED) | ~Q(payment_id=""),
                name="ledger_decision_match_has_payment",
            ),
            models.CheckConstraint(
                condition=~Q(decision=DecisionKind.IGNORED) | ~Q(reason=""),
                name="ledger_decision_ignore_has_reason",
            ),
            models.CheckConstraint(condition=~Q(username=""), name="ledger_decision_has_user"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.username} at {self.decided_at:%Y-%m-%d %H:%M}"
