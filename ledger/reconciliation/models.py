"""ledger.reconciliation: provider settlement reports as received, their classified lines, the
provider references that tie a line to a payment, nightly runs, breaks and finance's actions.

A report is stored once per (provider, mode, date, sha256 of the bytes): the same file twice
changes nothing. Its lines are classified set-based in SQL (`matching.py`) when the report is
first reconciled and stored with their outcome; a break is one row per (provider, mode, kind,
key), so a re-run finds the breaks it opened before instead of opening new ones. Every console
action is appended to `BreakAction` (PostgreSQL refuses updates and deletes, like the ledger).
These models are imported by `ledger.models` so Django sees them.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LineType(models.TextChoices):
    CAPTURE = "capture", "Capture"
    REFUND = "refund", "Refund"
    CHARGEBACK = "chargeback", "Chargeback"
    CHARGEBACK_REVERSAL = "chargeback_reversal", "Chargeback reversal"
    FEE = "fee", "Fee"
    PAYOUT = "payout", "Payout"


class Outcome(models.TextChoices):
    MATCHED = "matched", "Matched"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    MISSING_IN_LEDGER = "missing_in_ledger", "Missing in the ledger"
    MISSING_IN_REPORT = "missing_in_report", "Missing in the report"
    DUPLICATE = "duplicate", "Duplicate"
    PAYOUT_NOT_RECEIVED = "payout_not_received", "Payout not received"
    PAYOUT_AMOUNT_MISMATCH = "payout_amount_mismatch", "Payout amount mismatch"


BREAK_TYPES = [choice for choice in Outcome.choices if choice[0] != Outcome.MATCHED]


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    BREAKS = "breaks", "Breaks"
    FAILED = "failed", "Failed"


class ProviderReference(models.Model):
    """Which payment a provider-side reference belongs to: our attempt id (the `reference` the
    provider echoes) and the provider's own id. Recorded by payments before a run (the ledger
    knows payments only by id)."""

    provider = models.CharField(max_length=64)
    livemode = models.BooleanField()
    reference = models.CharField(max_length=100)
    provider_reference = models.CharField(max_length=100, blank=True)
    payment_id = models.CharField(max_length=64)

    class Meta:
        db_table = "ledger_recon_references"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "livemode", "reference"], name="ledger_recon_ref_once"
            )
        ]
        indexes = [
            models.Index(fields=["payment_id"], name="ledger_recon_ref_payment"),
            models.Index(
                fields=["provider", "livemode", "provider_reference"],
                name="ledger_recon_ref_provider",
            ),
        ]


class SettlementReport(models.Model):
    """One provider report file, exactly as received."""

    provider = models.CharField(max_length=64)
    livemode = models.BooleanField()
    report_date = models.DateField()
    filename = models.CharField(max_length=255, blank=True)
    raw = models.BinaryField(editable=False)
    sha256 = models.CharField(max_length=64)
    lines_count = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.CharField(max_length=160, default="system")

    class Meta:
        db_table = "ledger_recon_reports"
        ordering = ["-report_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "livemode", "report_date", "sha256"],
                name="ledger_recon_report_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.report_date} ({self.filename or self.sha256[:12]})"


class ReconciledLine(models.Model):
    """One settlement line and what the matcher decided for it (bulk-written by SQL)."""

    id = models.BigAutoField(primary_key=True)
    # (report, line_no) is unique: that index serves the foreign key too
    report = models.ForeignKey(
        SettlementReport, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    line_no = models.IntegerField()
    type = models.CharField(max_length=24, choices=LineType.choices)
    reference = models.CharField(max_length=100, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    payout_reference = models.CharField(max_length=100, blank=True)
    gross_minor = models.BigIntegerField()
    fee_minor = models.BigIntegerField()
    net_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    payment_id = models.CharField(max_length=64, blank=True)
    ledger_minor = models.BigIntegerField(null=True)  # what the ledger booked, same sign
    settled_minor = models.BigIntegerField(default=0)  # receivable the settlement clears

    class Meta:
        db_table = "ledger_recon_lines"
        constraints = [
            models.UniqueConstraint(fields=["report", "line_no"], name="ledger_recon_line_once")
        ]


class ReconciliationRun(models.Model):
    """One day of one provider in one mode: the last attempt's verdict and totals."""

    report_date = models.DateField()
    provider = models.CharField(max_length=64)
    livemode = models.BooleanField()
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    report = models.ForeignKey(SettlementReport, null=True, on_delete=models.PROTECT)
    lines_count = models.IntegerField(default=0)
    matched_count = models.IntegerField(default=0)
    breaks = models.JSONField(default=dict, blank=True)  # {type: count}
    totals = models.JSONField(default=dict, blank=True)  # {currency: {gross, fee, net, ...}}
    fetch_attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    trial_balance_ok = models.BooleanField(null=True)
    duration_ms = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "ledger_recon_runs"
        ordering = ["-report_date", "provider", "livemode"]
        constraints = [
            models.UniqueConstraint(
                fields=["report_date", "provider", "livemode"], name="ledger_recon_run_once"
            )
        ]
        permissions = [("run_reconciliation", "Can run reconciliation and upload reports")]

    def __str__(self) -> str:
        mode = "live" if self.livemode else "test"
        return f"{self.provider} {self.report_date} ({mode}) {self.status}"

    @property
    def breaks_count(self) -> int:
        return sum(self.breaks.values()) if self.breaks else 0


class Break(models.Model):
    """A difference between the provider, the ledger and the bank, waiting for finance."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="break_set")
    provider = models.CharField(max_length=64)
    livemode = models.BooleanField()
    type = models.CharField(max_length=24, choices=BREAK_TYPES)
    key = models.CharField(max_length=200)  # what the break is about, unique per kind
    report_date = models.DateField()
    currency = models.CharField(max_length=3)
    line = models.ForeignKey(ReconciledLine, null=True, blank=True, on_delete=models.PROTECT)
    reference = models.CharField(max_length=100, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    payment_id = models.CharField(max_length=64, blank=True)
    provider_minor = models.BigIntegerField(null=True)  # what the provider (or bank) says
    ledger_minor = models.BigIntegerField(null=True)  # what our books say
    difference_minor = models.BigIntegerField(default=0)  # provider − ledger
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution_reason = models.TextField(blank=True)
    adjustment_transaction_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "ledger_recon_breaks"
        ordering = ["resolved_at", "-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "livemode", "type", "key"], name="ledger_recon_break_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["opened_at"],
                condition=models.Q(resolved_at__isnull=True),
                name="ledger_recon_break_open",
            )
        ]
        permissions = [
            ("resolve_break", "Can resolve reconciliation breaks"),
            ("adjust_break", "Can post adjustments for reconciliation breaks"),
            ("export_breaks", "Can export reconciliation breaks as CSV"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.reference or self.key} ({self.provider})"

    @property
    def abs_difference_minor(self) -> int:
        return abs(self.difference_minor)


class BreakAction(models.Model):
    """Who did what in the finance console, and why (never changed or deleted)."""

    brk = models.ForeignKey(
        Break, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    action = models.CharField(max_length=24)  # resolved | adjusted | exported | ran
    username = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ledger_recon_actions"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.username} at {self.at:%Y-%m-%d %H:%M}"
