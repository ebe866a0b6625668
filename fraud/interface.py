"""fraud: the boundary other apps speak — what goes into an assessment and what comes back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssessmentRequest:
    payment_id: str
    merchant_id: str
    livemode: bool
    amount_minor: int
    currency: str
    method: str
    card_fingerprint: str = ""
    bin: str = ""
    brand: str = ""
    card_country: str = ""
    last4: str = ""
    email: str = ""
    ip: str = ""
    # The API key that made the payment: velocity counts by it (a merchant's server sends no
    # customer IP; card testing through it still arrives on one key).
    api_key_id: str = ""
    # The card is one of the published test cards (the vault says so; only test mode has them):
    # the default per-card velocity and decline rules leave its own repeats alone.
    test_card: bool = False


@dataclass(frozen=True)
class AssessmentResult:
    assessment_id: str
    score: int  # 0–100
    decision: str  # "allow" | "review" | "challenge" | "block"
    rules: tuple[str, ...]  # names of the rules that fired, in evaluation order
    latency_ms: float
