"""Merchants, their API keys, their outgoing webhook endpoints, and idempotency-key claims."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.ids import PrefixedIdField


class Merchant(models.Model):
    id = PrefixedIdField(prefix="acct")
    name = models.CharField(max_length=200, unique=True)
    # Origins allowed to receive tokens from the hosted card fields (postMessage targets).
    allowed_origins = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A secret (`sk_…`) or publishable (`pk_…`) key. Only its SHA-256 is stored; the full key
    is shown once, at creation. Keys carry 192 random bits, so a fast hash is enough (as for
    GitHub's tokens): nothing to brute-force."""

    class Kind(models.TextChoices):
        SECRET = "secret", "secret"
        PUBLISHABLE = "publishable", "publishable"

    id = PrefixedIdField(prefix="key")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    livemode = models.BooleanField(default=False)
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=20, help_text="The visible start of the key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        permissions = [("create_api_key", "Can create an API key (shown once)")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.merchant.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class WebhookEndpoint(models.Model):
    """Where a merchant wants our events delivered, signed with its own secret."""

    id = PrefixedIdField(prefix="we")
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    livemode = models.BooleanField(default=False)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    enabled_events = models.JSONField(default=list)
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events


class WebhookDelivery(models.Model):
    """One outgoing event to one endpoint, retried with backoff until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = PrefixedIdField(prefix="whd")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=40, db_index=True)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="one_delivery_per_event")
        ]


class IdempotencyKey(models.Model):
    """A claimed `Idempotency-Key`: in flight, or completed with the response to replay."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    # Indexed by the unique (merchant, livemode, key), which leads with it.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, db_index=False)
    livemode = models.BooleanField()
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    locked_until = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    response_headers = models.JSONField(default=dict)
    created = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "livemode", "key"], name="idempotency_key_unique_per_merchant"
            ),
            models.CheckConstraint(
                condition=Q(state="in_progress") | Q(response_status__isnull=False),
                name="completed_idempotency_key_has_response",
            ),
        ]
