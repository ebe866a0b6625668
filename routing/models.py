"""routing: provider configuration, per-merchant routing profiles and rules, attempts (every call
to a provider), routing decisions, circuit-breaker state and incoming provider events.

Models hold data and constraints; the workflows live in routing/services.py.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from core.ids import PrefixedIdField
from routing.fees import validate_fee_schedule

PROVIDER_KINDS = [("simulator", "Simulator"), ("stripe", "Stripe"), ("adyen", "Adyen")]
METHODS = ["card", "wallet"]
STRATEGIES = ["rules", "approval_rate", "cost", "volume_split", "priority"]


class Provider(models.Model):
    """One payment service provider we can route to. Credentials stay in the environment:
    `credentials_env` names the variable prefix (e.g. STRIPE → STRIPE_API_KEY)."""

    name = models.SlugField(max_length=40, unique=True)
    kind = models.CharField(max_length=20, choices=PROVIDER_KINDS)
    enabled = models.BooleanField(default=True)
    methods = ArrayField(models.CharField(max_length=20), default=list)
    currencies = ArrayField(models.CharField(max_length=3), default=list, blank=True)  # [] = all
    brands = ArrayField(models.CharField(max_length=20), default=list, blank=True)  # [] = all
    # {"*": {"percent_bp": 290, "fixed_minor": 30}, "JPY": {...}}: integer minor units only.
    # Validated by full_clean (so the admin form): a malformed schedule is refused where it is
    # typed, not discovered by the next payment. A field validator, not clean(), so a form
    # without this field (the changelist's list_editable) is not blocked by a stored bad value.
    fee_schedule = models.JSONField(default=dict, validators=[validate_fee_schedule])
    priority = models.PositiveIntegerField(default=100)  # lower is tried first
    weight = models.PositiveIntegerField(default=1)  # share in volume split
    credentials_env = models.CharField(max_length=40, blank=True)
    # Endpoint override (the simulator's URL, a provider's test host); blank = the default.
    base_url = models.URLField(max_length=200, blank=True)
    timeout_ms = models.PositiveIntegerField(default=10_000)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(timeout_ms__gt=0), name="provider_timeout")
        ]

    def __str__(self) -> str:
        return self.name


class RoutingProfile(models.Model):
    """How one merchant's payments are routed; merchant_id "" is the platform default."""

    merchant_id = models.CharField(max_length=40, unique=True, blank=True)
    # Applied in order: each strategy orders the candidates the previous ones left tied.
    strategies = ArrayField(
        models.CharField(max_length=20, choices=[(s, s) for s in STRATEGIES]),
        default=list,
    )
    exploration_rate = models.FloatField(default=0.05)  # share of traffic sent to explore
    approval_window_s = models.PositiveIntegerField(default=3600)
    approval_window_max_attempts = models.PositiveIntegerField(default=500)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(exploration_rate__gte=0, exploration_rate__lte=1),
                name="profile_exploration_rate",
            )
        ]

    def __str__(self) -> str:
        return self.merchant_id or "(default)"


class RoutingRule(models.Model):
    """When a payment matches every set condition, only `providers` (in that order) are used."""

    merchant_id = models.CharField(max_length=40, blank=True, db_index=True)
    position = models.PositiveIntegerField(default=100)  # first matching rule wins
    enabled = models.BooleanField(default=True)
    currency = models.CharField(max_length=3, blank=True)
    brand = models.CharField(max_length=20, blank=True)
    bin_country = models.CharField(max_length=2, blank=True)
    method = models.CharField(max_length=20, blank=True)
    min_amount_minor = models.BigIntegerField(null=True, blank=True)
    max_amount_minor = models.BigIntegerField(null=True, blank=True)
    providers = ArrayField(models.CharField(max_length=40))
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["merchant_id", "position", "id"]

    def __str__(self) -> str:
        return f"rule {self.pk} → {', '.join(self.providers)}"


class Decision(models.Model):
    """Why a payment went where it went: every candidate with its scores, and the order."""

    id = PrefixedIdField(prefix="rd")
    payment_id = models.CharField(max_length=40, db_index=True)
    merchant_id = models.CharField(max_length=40)
    strategies = ArrayField(models.CharField(max_length=20), default=list)
    candidates = models.JSONField(default=list)  # [{provider, scores, excluded}]
    order = ArrayField(models.CharField(max_length=40), default=list)
    chosen = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]


class AttemptKind(models.TextChoices):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"
    STATUS = "status"


PENDING = "pending"
OUTCOMES = [
    (PENDING, "pending"),
    ("approved", "approved"),
    ("requires_action", "requires action"),
    ("soft_decline", "soft decline"),
    ("hard_decline", "hard decline"),
    ("timeout_unknown", "timeout / unknown"),
    ("provider_error", "provider error"),
]


LIVE_AUTHORIZATION_OUTCOMES = [PENDING, "timeout_unknown", "approved", "requires_action"]


class Attempt(models.Model):
    """One call to a provider, written before the call (a crash leaves a `pending` row) and
    completed after. The id of an authorize attempt is the reference the provider sees."""

    id = PrefixedIdField(prefix="att")
    kind = models.CharField(max_length=20, choices=AttemptKind.choices)
    # For capture/refund/void/status: the authorize attempt acted on.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    payment_id = models.CharField(max_length=40, db_index=True)
    merchant_id = models.CharField(max_length=40)
    livemode = models.BooleanField(default=False)
    decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.PROTECT)
    provider = models.CharField(max_length=40)
    method = models.CharField(max_length=20, blank=True)
    brand = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    amount_minor = models.BigIntegerField(default=0)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    # Authorize only: sent as a sale (the provider captures the full amount when it approves),
    # so an approved sale needs no capture call (`selectors.sent_as_sale`).
    capture_requested = models.BooleanField(default=False, db_default=False)
    outcome = models.CharField(max_length=20, choices=OUTCOMES, default=PENDING)
    # The call itself failed (provider error or timeout) when it was made. Kept when a status
    # inquiry later learns the outcome: the circuit breaker's error rate counts this, not the
    # outcome a timeout was resolved to.
    call_failed = models.BooleanField(default=False, db_default=False)
    decline_code = models.CharField(max_length=60, blank=True)
    message = models.CharField(max_length=500, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    refund_reference = models.CharField(max_length=100, blank=True)
    fee_minor = models.BigIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)  # scrubbed by the adapter
    inquiries = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created"]
        indexes = [
            models.Index(fields=["provider", "brand", "currency", "created"]),
            models.Index(fields=["card_fingerprint", "created"]),
            # A breaker counts a provider's recent calls when a failure is recorded.
            models.Index(fields=["provider", "created"], name="attempt_provider_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="attempt_amount"),
            # At most one *live* authorization per payment: in flight, unknown, approved or
            # waiting for 3-D Secure. A second provider is never tried while the first may
            # still have authorized, and nothing is sent anywhere once one has: the insert of
            # the next attempt (made before the call) fails instead.
            models.UniqueConstraint(
                fields=["payment_id"],
                condition=Q(kind="authorize", outcome__in=LIVE_AUTHORIZATION_OUTCOMES),
                name="attempt_one_live_authorization",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.kind} {self.provider} {self.outcome}"


class BreakerState(models.Model):
    """A provider's circuit breaker, one row per provider, changed under a row lock so every
    web and worker process sees and changes the same state. The window's call and failure
    counts are not kept here: they are read from the provider's `Attempt` rows (routing.breaker),
    so a successful call does not write this row."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    provider = models.CharField(max_length=40, primary_key=True)
    state = models.CharField(
        max_length=10,
        choices=[(CLOSED, CLOSED), (OPEN, OPEN), (HALF_OPEN, HALF_OPEN)],
        default=CLOSED,
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    # When the breaker last closed (a probe succeeded, staff closed it): calls before this do
    # not count towards the error rate.
    closed_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    probes_in_flight = models.PositiveIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider}: {self.state}"


class IncomingEvent(models.Model):
    """A verified provider event, stored before it is processed; (provider, event_id) is the
    deduplication key."""

    RECEIVED, PROCESSED, IGNORED, FAILED = "received", "processed", "ignored", "failed"

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    type = models.CharField(max_length=100)
    reference = models.CharField(max_length=100, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    data = models.JSONField(default=dict)  # normalized, scrubbed by the adapter
    raw_body = models.TextField()
    headers = models.JSONField(default=dict)  # ids and timestamps only, no signatures
    status = models.CharField(
        max_length=10,
        choices=[(s, s) for s in (RECEIVED, PROCESSED, IGNORED, FAILED)],
        default=RECEIVED,
    )
    tries = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="incoming_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.type}"
