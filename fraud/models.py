"""fraud: the data of risk assessment — rules (CEL), blocklists and allow-lists, FX rates to the
reference currency, stored assessments (features, fired rules, score, decision, latency) and the
review queue with its audited decisions.

Stored assessments are also the PostgreSQL velocity store: the indexes on (fingerprint, created),
(email, created), (ip, created) and (merchant_id, created) serve the velocity queries.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.ids import PrefixedIdField


class Action(models.TextChoices):
    ALLOW = "allow", "allow"
    REVIEW = "review", "review"
    CHALLENGE = "challenge", "challenge"
    BLOCK = "block", "block"


class Rule(models.Model):
    """A CEL expression over the assessment context; when it is true, `action` applies."""

    name = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    expression = models.TextField()
    action = models.CharField(max_length=10, choices=Action.choices)
    # Points added to the score when the rule fires (allow rules ignore it).
    weight = models.PositiveSmallIntegerField(default=0)
    # Lower runs first within the same action.
    priority = models.IntegerField(default=100)
    enabled = models.BooleanField(default=True)
    # Empty: applies to every merchant.
    merchant_id = models.CharField(max_length=40, blank=True, db_index=True)
    # Bumped on every save: the compiled-program cache is keyed by (id, version).
    version = models.PositiveIntegerField(default=1)
    last_error = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__lte=100), name="fraud_rule_weight_le_100")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Every edit is a new version, so no process keeps running a stale compiled program.
        if self.pk is not None:
            self.version += 1
        super().save(*args, **kwargs)


class ListKind(models.TextChoices):
    CARD = "card", "card fingerprint"
    EMAIL = "email", "email"
    IP = "ip", "IP address or CIDR range"
    BIN = "bin", "BIN"


class ListEntry(models.Model):
    """A blocklist or allow-list entry: a card fingerprint, email, IP/CIDR range or BIN."""

    BLOCK = "block"
    ALLOW = "allow"

    list = models.CharField(
        max_length=5, choices=[(BLOCK, "blocklist"), (ALLOW, "allow-list")], default=BLOCK
    )
    kind = models.CharField(max_length=5, choices=ListKind.choices)
    # Normalized: emails lower-case, IPs/ranges in ipaddress' canonical form.
    value = models.CharField(max_length=320)
    merchant_id = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "blocklist / allow-list entry"
        verbose_name_plural = "blocklist / allow-list entries"
        constraints = [
            models.UniqueConstraint(
                fields=["list", "kind", "value", "merchant_id"], name="fraud_list_entry_unique"
            )
        ]
        # Every assessment looks its card, email and BIN up by (kind, value); IP ranges have a
        # GiST index of their own (migration 0005, fraud/lists.py), which Django cannot declare.
        indexes = [models.Index(fields=["kind", "value"], name="fraud_list_kind_value")]

    def __str__(self) -> str:
        return f"{self.list}:{self.kind}:{self.value}"


class FxRate(models.Model):
    """How many reference-currency units one unit of `currency` is worth (admin-maintained)."""

    currency = models.CharField(max_length=3, unique=True)
    # ISO 4217 exponent of `currency` (EUR 2, JPY 0, KWD 3): minor units per major unit.
    exponent = models.PositiveSmallIntegerField(default=2)
    # Exact decimal, never a float: 1 unit of currency = rate units of the reference currency.
    rate_to_reference = models.DecimalField(max_digits=20, decimal_places=10)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "FX rate"
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(condition=Q(rate_to_reference__gt=0), name="fraud_fx_rate_gt_0")
        ]

    def __str__(self) -> str:
        return f"{self.currency} = {self.rate_to_reference}"

    def save(self, *args, **kwargs) -> None:
        # Payments send "usd" or "USD"; the lookup is by the upper-case ISO code.
        self.currency = self.currency.strip().upper()
        super().save(*args, **kwargs)


class Assessment(models.Model):
    """One risk assessment of one payment attempt, with everything needed to explain it."""

    id = PrefixedIdField(prefix="fa")
    payment_id = models.CharField(max_length=40, unique=True)
    merchant_id = models.CharField(max_length=40)
    livemode = models.BooleanField(default=False)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # None when the currency had no FX rate: the amount could not be compared across currencies.
    amount_ref_minor = models.BigIntegerField(null=True, blank=True)
    method = models.CharField(max_length=20, blank=True)
    card_fingerprint = models.CharField(max_length=128, blank=True)
    bin = models.CharField(max_length=8, blank=True)
    card_country = models.CharField(max_length=2, blank=True)
    email = models.CharField(max_length=320, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    ip_country = models.CharField(max_length=2, blank=True)
    # The full CEL context the rules saw (never a card number: fingerprint, BIN, last4 only).
    features = models.JSONField(default=dict)
    rules = models.JSONField(default=list)
    score = models.PositiveSmallIntegerField()
    decision = models.CharField(max_length=10, choices=Action.choices)
    latency_ms = models.FloatField()
    velocity_source = models.CharField(max_length=10, blank=True)
    # Filled by record_outcome after the provider answered.
    approved = models.BooleanField(null=True)
    decline_code = models.CharField(max_length=60, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["card_fingerprint", "created"], name="fraud_as_card_created"),
            models.Index(fields=["email", "created"], name="fraud_as_email_created"),
            models.Index(fields=["ip", "created"], name="fraud_as_ip_created"),
            models.Index(fields=["merchant_id", "created"], name="fraud_as_merchant_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="fraud_score_le_100")
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.decision} {self.score}"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "open"
    # Decided and blocklisted; payments' handler (cancel / refund at the provider) is running.
    REJECTING = "rejecting", "rejecting"
    # The handler failed; the decision and blocklist stand and an agent can reject again.
    REJECT_FAILED = "reject_failed", "reject failed (retry)"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"


class ReviewItem(models.Model):
    """A payment waiting for a support agent's decision; the decision is audited here."""

    assessment = models.OneToOneField(Assessment, on_delete=models.PROTECT, related_name="review")
    payment_id = models.CharField(max_length=40, unique=True)
    merchant_id = models.CharField(max_length=40)
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN, db_index=True
    )
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # What rejecting did to the payment ("canceled", "refunded") and which list entries it added.
    action_taken = models.CharField(max_length=200, blank=True)
    # When payments' reject handler was last started, and its error if it failed.
    rejecting_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]
        permissions = [("review_assessment", "Can approve or reject payments in fraud review")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | (~Q(decided_by="") & Q(decided_at__isnull=False)),
                name="fraud_review_decision_audited",
            )
        ]

    def __str__(self) -> str:
        return f"review {self.payment_id} ({self.status})"
