"""What every adapter shares for dispute webhooks: one normalized `WebhookEvent` shape, and the
card schemes' chargeback reason codes mapped to the normalized reasons.

A dispute event is stored like any other provider event (type "dispute.<kind>", our attempt id
in `reference`, the disputed payment's provider reference in `provider_reference`); the rest of
the `DisputeNotice` travels in `data`, so `routing.services.disputes.dispute_notice` can rebuild
it from the stored row. Reasons use Stripe's vocabulary: fraudulent, product_not_received,
product_unacceptable, duplicate, subscription_canceled, credit_not_processed, unrecognized,
general, …
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from routing.adapters.scrubbing import scrub
from routing.interface import DisputeEventKind, WebhookEvent

DISPUTE_STATUSES = frozenset(
    {"warning_needs_response", "warning_under_review", "warning_closed", "needs_response",
     "under_review", "won", "lost"}
)  # fmt: skip
GENERAL = "general"

# Scheme reason codes → normalized reason. Visa (VCR: 10.x fraud, 11.x authorisation, 12.x
# processing errors, 13.x consumer disputes), Mastercard (48xx), American Express (letters),
# Discover (two letters). Codes not listed are "general".
SCHEME_REASONS: dict[str, str] = {
    # Visa
    "10.1": "fraudulent", "10.2": "fraudulent", "10.3": "fraudulent", "10.4": "fraudulent",
    "10.5": "fraudulent", "11.1": "general", "11.2": "general", "11.3": "general",
    "12.1": "general", "12.2": "general", "12.3": "general", "12.4": "general",
    "12.5": "general", "12.6": "duplicate", "12.6.1": "duplicate", "12.6.2": "duplicate",
    "12.7": "general", "13.1": "product_not_received", "13.2": "subscription_canceled",
    "13.3": "product_unacceptable", "13.4": "product_unacceptable",
    "13.5": "product_unacceptable", "13.6": "credit_not_processed",
    "13.7": "credit_not_processed", "13.8": "general", "13.9": "product_not_received",
    # Mastercard
    "4837": "fraudulent", "4840": "fraudulent", "4849": "fraudulent", "4870": "fraudulent",
    "4871": "fraudulent", "4863": "unrecognized", "4834": "duplicate", "4841":
    "subscription_canceled", "4853": "product_unacceptable", "4855": "product_not_received",
    "4860": "credit_not_processed", "4808": "general", "4831": "general",
    # American Express
    "F10": "fraudulent", "F14": "fraudulent", "F24": "fraudulent", "F29": "fraudulent",
    "FR2": "fraudulent", "FR4": "fraudulent", "FR6": "fraudulent", "C08": "product_not_received",
    "C28": "subscription_canceled", "C02": "credit_not_processed", "C05": "credit_not_processed",
    "C31": "product_unacceptable", "C32": "product_unacceptable", "P08": "duplicate",
    "P22": "general", "P23": "general", "A01": "general", "A02": "general", "A08": "general",
    # Discover
    "UA01": "fraudulent", "UA02": "fraudulent", "UA05": "fraudulent", "UA06": "fraudulent",
    "RG": "product_not_received", "DP": "duplicate", "CR": "credit_not_processed",
    "NF": "unrecognized", "AW": "general",
}  # fmt: skip


def scheme_reason(code: str) -> str:
    """The normalized reason for a card scheme's chargeback reason code ("10.4", "4837", …)."""
    code = code.strip().upper()
    if code in SCHEME_REASONS:
        return SCHEME_REASONS[code]
    major = code.rsplit(".", 1)[0] if code.count(".") == 2 else ""
    return SCHEME_REASONS.get(major, GENERAL)


def dispute_event(
    *,
    provider: str,
    event_id: str,
    kind: DisputeEventKind,
    dispute_reference: str,
    payment_reference: str,
    attempt_id: str,
    amount_minor: int,
    currency: str,
    reason: str,
    status: str,
    evidence_due_by: dt.datetime | None,
    fee_minor: int,
    occurred_at: dt.datetime,
    raw: dict[str, Any],
) -> WebhookEvent:
    """A dispute event as every adapter returns it (see the module docstring)."""
    return WebhookEvent(
        provider=provider,
        event_id=event_id,
        type=f"dispute.{kind.value}",
        reference=attempt_id,
        provider_reference=payment_reference,
        amount_minor=amount_minor,
        currency=currency.upper(),
        data={
            "dispute_reference": dispute_reference,
            "reason": reason or GENERAL,
            "status": status if status in DISPUTE_STATUSES else "",
            "evidence_due_by": evidence_due_by.isoformat() if evidence_due_by else None,
            "fee_minor": fee_minor,
            "occurred_at": occurred_at.isoformat(),
            "raw": scrub(raw),
        },
    )


def from_unix(value: Any) -> dt.datetime | None:
    """A Unix timestamp (seconds) as an aware UTC datetime; 0, None or junk → None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC)


def from_iso(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when it carries no offset); junk → None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
