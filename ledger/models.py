"""ledger: accounts, journal transactions, immutable entries, cached balances, holds, trial runs.

The ledger tables (accounts, balances, transactions, entries, holds) are created by RunSQL in
migration 0001 because PostgreSQL owns their guarantees: the month-partitioned `ledger_entries`
table, its composite keys (every key carries `payment_id` for a later Citus distribution), the
immutability triggers and the deferred balance check. The models below map those tables for the
ORM and the admin (`managed = False`, so Django never alters or flushes them). Writes go only
through `ledger.services`, which calls the `ledger_post()` SQL function.
"""

from __future__ import annotations

from django.db import models


class NormalSide(models.TextChoices):
    DEBIT = "debit", "Debit"
    CREDIT = "credit", "Credit"


class Account(models.Model):
    """One account per (owner, kind, currency, mode); owner is e.g. "merchant:acct_1",
    "bank:main". Test money never shares an account with live money."""

    id = models.BigAutoField(primary_key=True)
    owner = models.CharField(max_length=120)
    kind = models.CharField(max_length=40)
    currency = models.CharField(max_length=3)
    livemode = models.BooleanField()
    normal_side = models.CharField(max_length=6, choices=NormalSide.choices)
    created = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "ledger_accounts"
        ordering = ["livemode", "owner", "kind", "currency"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.owner} {self.currency} ({'live' if self.livemode else 'test'})"


class AccountBalance(models.Model):
    """Running totals of an account, updated in the same database transaction as its entries."""

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.DO_NOTHING, related_name="balance"
    )
    debit_total = models.BigIntegerField()
    credit_total = models.BigIntegerField()
    entry_count = models.BigIntegerField()
    last_ts = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "ledger_account_balances"


class Transaction(models.Model):
    """A journal transaction: a balanced group of entries, posted once per (kind, reference)."""

    id = models.BigAutoField(primary_key=True)
    payment_id = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=32)
    reference = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    reverses = models.ForeignKey(
        "self",
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="reversals",
        db_constraint=False,
    )
    ts = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "ledger_transactions"
        ordering = ["-ts", "-id"]

    def __str__(self) -> str:
        return f"#{self.id} {self.kind} {self.reference}"


class Entry(models.Model):
    """One side of a transaction on one account; bigint minor units; never updated or deleted."""

    entry_id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(
        Transaction, on_delete=models.DO_NOTHING, related_name="entries", db_constraint=False
    )
    payment_id = models.CharField(max_length=64, blank=True)
    account = models.ForeignKey(
        Account, on_delete=models.DO_NOTHING, related_name="entries", db_constraint=False
    )
    debit = models.BigIntegerField()
    credit = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    ts = models.DateTimeField()
    # The account's totals after this entry: an as-of balance is one index probe.
    running_debit = models.BigIntegerField()
    running_credit = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "ledger_entries"
        ordering = ["-ts", "-entry_id"]
        verbose_name_plural = "entries"
        permissions = [("export_entries", "Can export ledger entries as CSV")]

    def __str__(self) -> str:
        return f"entry {self.entry_id}"


class Hold(models.Model):
    """The two-phase hold of one payment: who and in which currency (amounts come from entries)."""

    payment_id = models.CharField(max_length=64, primary_key=True)
    merchant_id = models.CharField(max_length=64)
    provider = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    livemode = models.BooleanField()  # the payment's mode: its accounts are of this mode
    placed_ts = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "ledger_holds"


class TrialBalanceRun(models.Model):
    """One run of the trial balance: its verdict, what it counted, and what failed."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    ok = models.BooleanField()
    entries_count = models.BigIntegerField()
    transactions_count = models.BigIntegerField()
    accounts_count = models.BigIntegerField()
    failures = models.JSONField(default=list)
    livemode = models.BooleanField(
        null=True,
        help_text="The mode whose books the run checked; empty for runs from before the "
        "ledger kept the modes apart.",
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        mode = {True: "live", False: "test", None: "all"}[self.livemode]
        verdict = "ok" if self.ok else "FAILED"
        return f"trial balance ({mode}) {self.started_at:%Y-%m-%d %H:%M} {verdict}"


# Bank statements live in their own module; importing them here registers them with the app.
from ledger.reconciliation.models import (  # noqa: E402
    Break,
    BreakAction,
    ProviderReference,
    ReconciledLine,
    ReconciliationRun,
    SettlementReport,
)
from ledger.statements.models import (  # noqa: E402
    BankStatement,
    ManualDecision,
    StatementLine,
)

__all__ = [
    "Account",
    "AccountBalance",
    "BankStatement",
    "Break",
    "BreakAction",
    "Entry",
    "Hold",
    "ManualDecision",
    "ProviderReference",
    "ReconciledLine",
    "ReconciliationRun",
    "SettlementReport",
    "StatementLine",
    "Transaction",
    "TrialBalanceRun",
]
