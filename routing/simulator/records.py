"""What a simulated provider remembers: authorizations, refunds and disputes.

These records are the simulator's "truth" that tests inspect (`GET /_control/{p}/records`) to
prove that a payment was authorized once and refunded no more than captured. They hold a card
summary (brand, BIN, last4, expiry, country) and never the full number or the CVC: the request
body that carried them is dropped as soon as the card has been judged.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def now_s() -> int:
    return int(time.time())


@dataclass(frozen=True)
class CardSummary:
    brand: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int
    country: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "brand": self.brand,
            "bin": self.bin,
            "last4": self.last4,
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "country": self.country or None,
        }


@dataclass
class Refund:
    id: str
    reference: str
    authorization_id: str
    amount: int
    currency: str
    created: int
    status: str = "succeeded"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "refund",
            "reference": self.reference,
            "authorization_id": self.authorization_id,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "created": self.created,
        }


@dataclass
class Authorization:
    """One authorization. `status` is approved | declined | requires_action | voided; capture
    and refunds are tracked in the amounts rather than as extra statuses."""

    id: str
    provider: str
    reference: str
    method: str
    amount: int
    currency: str
    status: str
    capture_requested: bool
    created: int
    return_url: str = ""
    decline_code: str = ""
    message: str = ""
    redirect_url: str = ""
    fee: int | None = None
    amount_captured: int = 0
    amount_refunded: int = 0
    captured_at: int | None = None
    voided_at: int | None = None
    card: CardSummary | None = None
    wallet_type: str = ""
    refunds: list[Refund] = field(default_factory=list)
    qr_reference: str = ""  # a QR payment: the reference its code carries
    expires_at: int | None = None  # a QR payment: unix seconds after which it cannot be paid
    # A dispute test card's plan, kept instead of the card number: disputed after capture.
    dispute_reason: str = ""
    dispute_inquiry: bool = False

    @property
    def refundable(self) -> int:
        return self.amount_captured - self.amount_refunded

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "authorization",
            "provider": self.provider,
            "reference": self.reference,
            "status": self.status,
            "decline_code": self.decline_code or None,
            "message": self.message or None,
            "redirect_url": self.redirect_url or None,
            "return_url": self.return_url or None,
            "method": self.method,
            "amount": self.amount,
            "amount_captured": self.amount_captured,
            "amount_refunded": self.amount_refunded,
            "currency": self.currency,
            "fee": self.fee,
            "capture": self.capture_requested,
            "card": self.card.to_json() if self.card else None,
            "wallet": {"type": self.wallet_type} if self.wallet_type else None,
            "created": self.created,
            "captured_at": self.captured_at,
            "voided_at": self.voided_at,
            "refunds": [refund.to_json() for refund in self.refunds],
            **self._qr_json(),
        }

    def _qr_json(self) -> dict[str, Any]:
        if self.method != "qr":
            return {}
        return {"qr": {"reference": self.qr_reference, "expires_at": self.expires_at}}


@dataclass
class Dispute:
    """A dispute, in Stripe's vocabulary. A chargeback: needs_response → under_review → won |
    lost. An inquiry (no money moved yet): warning_needs_response → warning_under_review →
    warning_closed, or escalated to a chargeback (needs_response). `evidence` holds the text
    fields as submitted (no card data is ever asked for) and the names of attached files."""

    id: str
    authorization_id: str
    reference: str
    amount: int
    currency: str
    reason: str
    created: int
    evidence_due_by: int
    status: str = "needs_response"
    is_inquiry: bool = False
    fee: int = 0  # the dispute fee, charged when the funds are withdrawn
    funds_withdrawn: bool = False
    funds_reinstated: bool = False
    evidence: dict[str, str] = field(default_factory=dict)
    file_names: list[str] = field(default_factory=list)
    submission_count: int = 0

    @property
    def closed(self) -> bool:
        return self.status in ("won", "lost", "warning_closed")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "dispute",
            "authorization_id": self.authorization_id,
            "reference": self.reference,
            "amount": self.amount,
            "currency": self.currency,
            "reason": self.reason,
            "status": self.status,
            "is_inquiry": self.is_inquiry,
            "fee": self.fee,
            "funds_withdrawn": self.funds_withdrawn,
            "funds_reinstated": self.funds_reinstated,
            "created": self.created,
            "evidence_due_by": self.evidence_due_by,
            "evidence": dict(self.evidence),
            "file_names": list(self.file_names),
            "submission_count": self.submission_count,
        }
