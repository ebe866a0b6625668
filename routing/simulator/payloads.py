"""Validation of the provider API's JSON bodies.

`parse_authorize` is where the full card number and CVC are last seen: the card is judged here
and only a `CardSummary` (brand, BIN, last4, expiry, country) and the verdict travel on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from routing.simulator.cards import APPROVED, CardVerdict, Verdict, card_brand, judge_card
from routing.simulator.errors import bad_request
from routing.simulator.records import CardSummary

MAX_AMOUNT_MINOR = 10**15
MAX_REFERENCE_LENGTH = 200
MAX_QR_REFERENCE_LENGTH = 35
MAX_EVIDENCE_CHARS = 150_000  # Stripe's limit for all evidence text fields together
METHODS = ("card", "wallet")


@dataclass(frozen=True)
class AuthorizeInput:
    reference: str
    amount: int
    currency: str
    method: str
    capture: bool
    return_url: str
    card: CardSummary | None = None
    verdict: CardVerdict = APPROVED  # wallets: approved
    wallet_type: str = ""


def parse_authorize(body: dict[str, Any]) -> AuthorizeInput:
    reference = reference_param(body, "reference")
    amount = amount_param(body, "amount")
    currency = currency_param(body)
    method = body.get("method", "card")
    if method not in METHODS:
        raise bad_request(
            "method_not_supported", f"method must be one of {', '.join(METHODS)}", "method"
        )
    capture = body.get("capture", False)
    if not isinstance(capture, bool):
        raise bad_request("invalid_request", "capture must be true or false", "capture")
    return_url = body.get("return_url") or ""
    if not isinstance(return_url, str) or (
        return_url and not return_url.startswith(("http://", "https://"))
    ):
        raise bad_request("invalid_request", "return_url must be an http(s) URL", "return_url")
    common = {
        "reference": reference,
        "amount": amount,
        "currency": currency,
        "method": method,
        "capture": capture,
        "return_url": return_url,
    }
    three_ds = body.get("three_ds", False)
    if not isinstance(three_ds, bool):
        raise bad_request("invalid_request", "three_ds must be true or false", "three_ds")
    if method == "wallet":
        return AuthorizeInput(**common, wallet_type=_wallet_type(body.get("wallet")))
    card, verdict = _judge(body.get("card"))
    if three_ds and verdict.verdict in (Verdict.APPROVE, Verdict.RATE):
        # The merchant (our fraud engine) asked for a challenge: step up whatever the card.
        verdict = dataclasses.replace(verdict, verdict=Verdict.THREE_DS)
    return AuthorizeInput(**common, card=card, verdict=verdict)


@dataclass(frozen=True)
class QrInput:
    """A QR payment to report when the customer pays it (`POST /{p}/v1/qr_payments`)."""

    reference: str  # the merchant's attempt reference, as for an authorization
    amount: int
    currency: str
    qr_reference: str  # the payment reference the QR code carries, what the scheme reports
    expires_at: int | None  # unix seconds; a scan after it is refused


def parse_qr(body: dict[str, Any]) -> QrInput:
    expires_at = body.get("expires_at")
    if expires_at is not None and not _is_int(expires_at):
        raise bad_request("invalid_request", "expires_at must be unix seconds", "expires_at")
    qr_reference = reference_param(body, "qr_reference")
    if len(qr_reference) > MAX_QR_REFERENCE_LENGTH or not qr_reference.isalnum():
        raise bad_request(
            "invalid_request", "qr_reference must be up to 35 letters and digits", "qr_reference"
        )
    return QrInput(
        reference=reference_param(body, "reference"),
        amount=amount_param(body, "amount"),
        currency=currency_param(body),
        qr_reference=qr_reference.upper(),
        expires_at=expires_at,
    )


def _judge(card: Any) -> tuple[CardSummary, CardVerdict]:
    if not isinstance(card, dict):
        raise bad_request("invalid_request", "card is required for method card", "card")
    number = str(card.get("number", "")).replace(" ", "")
    if not number.isdigit():
        raise bad_request("invalid_request", "card.number must be digits", "card.number")
    exp_month, exp_year = card.get("exp_month"), card.get("exp_year")
    if not _is_int(exp_month) or not 1 <= exp_month <= 12:
        raise bad_request("invalid_request", "card.exp_month must be 1-12", "card.exp_month")
    if not _is_int(exp_year) or not 2000 <= exp_year <= 2100:
        raise bad_request(
            "invalid_request", "card.exp_year must be a 4-digit year", "card.exp_year"
        )
    country = card.get("country") or ""
    summary = CardSummary(
        brand=card_brand(number),
        bin=number[:6],
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        country=country.upper() if isinstance(country, str) else "",
    )
    return summary, judge_card(number, exp_month, exp_year)


def _wallet_type(wallet: Any) -> str:
    if not isinstance(wallet, dict) or not isinstance(wallet.get("type"), str):
        raise bad_request("invalid_request", "wallet.type is required", "wallet.type")
    if not wallet.get("token"):
        raise bad_request("invalid_request", "wallet.token is required", "wallet.token")
    return wallet["type"]


def parse_evidence(body: dict[str, Any]) -> tuple[dict[str, str], list[str], bool]:
    """`{evidence: {field: text}, file_names: [...], submit: bool}` of a dispute evidence call."""
    evidence = body.get("evidence") or {}
    if not isinstance(evidence, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in evidence.items()
    ):
        raise bad_request("invalid_request", "evidence must map field names to text", "evidence")
    if sum(len(v) for v in evidence.values()) > MAX_EVIDENCE_CHARS:
        raise bad_request("invalid_request", "evidence text is too long", "evidence")
    file_names = body.get("file_names") or []
    if not isinstance(file_names, list) or not all(isinstance(n, str) for n in file_names):
        raise bad_request("invalid_request", "file_names must be a list of names", "file_names")
    submit = body.get("submit", False)
    if not isinstance(submit, bool):
        raise bad_request("invalid_request", "submit must be true or false", "submit")
    return evidence, file_names, submit


def reference_param(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_REFERENCE_LENGTH:
        raise bad_request("missing_param", f"{name} must be a non-empty string", name)
    return value


def amount_param(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """A positive integer amount in minor units; floats are refused (no float money)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not _is_int(value) or not 0 < value <= MAX_AMOUNT_MINOR:
        raise bad_request(
            "invalid_amount", f"{name} must be a positive integer in minor units", name
        )
    return value


def currency_param(body: dict[str, Any]) -> str:
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise bad_request("invalid_currency", "currency must be a 3-letter code", "currency")
    return currency.upper()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
