"""The vault's tables: tokens (encrypted card data), key-check values of the key-encryption
keys, the append-only detokenization audit log, and the payment-page integrity baseline and
alerts. No column ever holds a full card number or a CVC in the clear."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.ids import PrefixedIdField


class Token(models.Model):
    """A stored card. `encrypted_pan` holds the PAN and holder name sealed under this row's own
    data key (`wrapped_dek`), which is sealed under the key-encryption key `key_version`."""

    id = PrefixedIdField(prefix="tok")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT)
    livemode = models.BooleanField(default=False)
    brand = models.CharField(max_length=16)
    card_last4 = models.CharField(max_length=4)
    bin = models.CharField(max_length=6)
    country = models.CharField(max_length=2, blank=True)
    funding = models.CharField(max_length=10, default="unknown")
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    fingerprint = models.CharField(max_length=64, db_index=True)
    encrypted_pan = models.BinaryField()
    nonce = models.BinaryField()
    wrapped_dek = models.BinaryField()
    key_version = models.CharField(max_length=16, db_index=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["merchant", "livemode", "fingerprint"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(exp_month__gte=1, exp_month__lte=12), name="token_exp_month_1_12"
            ),
            models.CheckConstraint(condition=Q(card_last4__regex=r"^\d{4}$"), name="token_last4"),
            models.CheckConstraint(condition=Q(bin__regex=r"^\d{6}$"), name="token_bin_6"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.brand} •••• {self.card_last4})"


class KeyCheck(models.Model):
    """The key-check value (KCV) of each key-encryption key version that has wrapped data keys.
    At start-up every configured version must reproduce its KCV, or the process refuses to run."""

    version = models.CharField(max_length=16, primary_key=True)
    kcv = models.CharField(max_length=32)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.version


class DetokenizationEvent(models.Model):
    """Who asked for which card, for what, and whether the vault opened it. Append-only:
    PostgreSQL rejects UPDATE and DELETE."""

    class Outcome(models.TextChoices):
        OPENED = "opened"
        REFUSED = "refused"  # no such token for this merchant and mode
        FAILED = "failed"  # the token was found but could not be opened (keys, ciphertext)

    # No database constraint: a refusal names the token asked for, which may not exist.
    token = models.ForeignKey(
        Token, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    merchant_id = models.CharField(max_length=40)
    livemode = models.BooleanField()
    actor = models.CharField(max_length=200)
    purpose = models.CharField(max_length=200)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OPENED)
    reason = models.CharField(max_length=200, blank=True, default="")
    cvc_consumed = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.token_id} by {self.actor} for {self.purpose}"


class PaymentPageBaseline(models.Model):
    """The recorded fingerprint of the hosted card page (PCI DSS 11.6.1): its security headers
    and every script's URL, integrity attribute and body. The newest row is the baseline."""

    url = models.CharField(max_length=2000)
    digest = models.CharField(max_length=64)
    details = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]


class PaymentPageAlert(models.Model):
    """A change seen on the hosted card page relative to the baseline."""

    url = models.CharField(max_length=2000)
    expected_digest = models.CharField(max_length=64)
    observed_digest = models.CharField(max_length=64)
    changes = models.JSONField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
