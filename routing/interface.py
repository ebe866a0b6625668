"""The provider boundary: what goes into an adapter and what comes back.

Every provider adapter (the simulator, Stripe, Adyen) speaks this small language, so routing,
cascading and the payments app never see a provider's own vocabulary. Nothing here imports a
model; ids, integers and strings cross the boundary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Outcome(enum.StrEnum):
    """The normalized outcome of one call to a provider."""

    APPROVED = "approved"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure challenge: redirect the customer
    SOFT_DECLINE = "soft_decline"  # retryable at another provider
    HARD_DECLINE = "hard_decline"  # never retried anywhere
    TIMEOUT_UNKNOWN = "timeout_unknown"  # no answer: ask the provider before anything else
    PROVIDER_ERROR = "provider_error"  # the provider failed; retryable elsewhere


@dataclass(frozen=True)
class CardData:
    """A card as handed to an adapter by the vault. Lives in memory only, never logged.

    `number` and `cvc` are deliberately excluded from repr so that an accidental log line or
    traceback cannot carry them.
    """

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str | None = field(default=None, repr=False)
    holder_name: str = ""
    brand: str = ""
    last4: str = ""
    bin: str = ""
    country: str = ""


@dataclass(frozen=True)
class WalletData:
    """An Apple Pay / Google Pay payment token passed through to a provider that supports it."""

    type: str  # "apple_pay" | "google_pay"
    token: str = field(repr=False)


@dataclass(frozen=True)
class AuthorizeRequest:
    """One authorization attempt. `reference` is our attempt id (att_…), sent to the provider as
    its idempotency key / merchant reference, so the same attempt can never authorize twice."""

    reference: str
    amount_minor: int
    currency: str
    method: str  # card | wallet | bank_transfer | qr
    card: CardData | None = None
    wallet: WalletData | None = None
    capture: bool = False
    # Ask for a 3-D Secure challenge whatever the card (fraud decided `challenge`).
    three_ds_required: bool = False
    three_ds_return_url: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    # A QR payment (method "qr"): the payment's reference the customer's scheme reports back,
    # and when the code stops being payable.
    collection_reference: str = ""
    collection_expires_at: datetime | None = None


@dataclass(frozen=True)
class ProviderResult:
    """What a provider said, normalized. `raw` is the provider's response with card data
    scrubbed, kept for support and reconciliation."""

    outcome: Outcome
    provider: str
    reference: str  # our reference (att_…)
    provider_reference: str = ""
    decline_code: str = ""  # normalized: generic_decline, insufficient_funds, expired_card, …
    message: str = ""
    redirect_url: str = ""  # for REQUIRES_ACTION
    amount_minor: int | None = None
    fee_minor: int | None = None
    latency_ms: int = 0
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    """An incoming provider event, verified and normalized."""

    provider: str
    event_id: str
    # dispute.opened | dispute.updated | dispute.funds_withdrawn | dispute.funds_reinstated |
    # dispute.closed (data: the rest of a DisputeNotice) | payment.succeeded | payment.failed |
    # payment.captured | payment.capture_failed | payment.refunded | payment.refund_failed | …
    type: str
    reference: str = ""  # our attempt reference when the provider echoes it
    provider_reference: str = ""
    amount_minor: int | None = None
    currency: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class DisputeEventKind(enum.StrEnum):
    """What a provider says happened to a dispute (a chargeback or an inquiry)."""

    OPENED = "opened"
    UPDATED = "updated"
    FUNDS_WITHDRAWN = "funds_withdrawn"
    FUNDS_REINSTATED = "funds_reinstated"
    CLOSED = "closed"


@dataclass(frozen=True)
class DisputeNotice:
    """One provider dispute event, verified and normalized, handed to the disputes app.

    `event_id` deduplicates redeliveries; `occurred_at` orders events that arrive out of order.
    `reason` is normalized to Stripe's vocabulary (fraudulent, product_not_received, duplicate,
    subscription_canceled, credit_not_processed, unrecognized, general, …); `status` is the
    state the dispute is in after this event (warning_needs_response, warning_under_review,
    warning_closed, needs_response, under_review, won, lost) or "" when the provider does not
    say. `raw` is the event as received, scrubbed of card data.
    """

    provider: str
    event_id: str
    kind: DisputeEventKind
    dispute_reference: str
    payment_reference: str
    attempt_id: str
    amount_minor: int
    currency: str
    reason: str
    status: str
    evidence_due_by: datetime | None
    fee_minor: int
    occurred_at: datetime
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvidenceSubmission:
    """What a provider answered to evidence submitted for a dispute."""

    accepted: bool
    message: str = ""


SETTLEMENT_LINE_TYPES = ("capture", "refund", "chargeback", "chargeback_reversal", "fee", "payout")


@dataclass(frozen=True)
class SettlementLine:
    """One line of a provider's settlement report, in minor units of `currency`.

    `type` is one of SETTLEMENT_LINE_TYPES. `reference` is the id we sent the provider (our
    att_… for a capture, our refund id for a refund) when the provider echoes it, and
    `provider_reference` the provider's own id. Amounts are signed from our side: money the
    provider owes us is positive (a capture's gross), money going back is negative (a refund's
    or chargeback's gross, a payout's net leaving the provider balance for our bank); `fee_minor`
    is what the provider kept, and net = gross - fee. A `fee` line (a fee not tied to one
    payment) has gross 0 and net = -fee. `payout_reference` is the payout the line is paid out
    in, and on a payout line the payout's own id. `date` is the day the provider booked the
    line (a payout: the day it was paid).
    """

    type: str
    reference: str
    provider_reference: str
    gross_minor: int
    fee_minor: int
    net_minor: int
    currency: str
    date: str  # ISO date
    payout_reference: str = ""


@dataclass(frozen=True)
class SettlementReport:
    """One provider report as received (`raw`, kept byte for byte) and its parsed lines."""

    provider: str
    date: str  # ISO date the report covers
    filename: str
    raw: bytes = field(repr=False)
    lines: tuple[SettlementLine, ...]


class Adapter(Protocol):
    """What every provider adapter implements."""

    name: str

    def authorize(self, request: AuthorizeRequest) -> ProviderResult: ...

    def capture(
        self, *, reference: str, provider_reference: str, amount_minor: int, currency: str
    ) -> ProviderResult: ...

    def refund(
        self,
        *,
        reference: str,
        provider_reference: str,
        amount_minor: int,
        currency: str,
        refund_reference: str,
    ) -> ProviderResult: ...

    def void(self, *, reference: str, provider_reference: str) -> ProviderResult: ...

    def status(self, *, reference: str) -> ProviderResult: ...

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> list[WebhookEvent]: ...

    def settlement_report(self, *, date: str) -> SettlementReport: ...

    def parse_settlement_report(
        self, *, raw: bytes, filename: str, date: str
    ) -> SettlementReport: ...

    def submit_dispute_evidence(
        self, *, dispute_reference: str, evidence: dict[str, str], file_names: list[str]
    ) -> EvidenceSubmission: ...
