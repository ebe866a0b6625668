"""Validation of the provider API's JSON bodies.

`parse_authorize` is where the full card number and CVC are last seen: the card is judged here
and only a `CardSummary` (brand, BIN, last4, expiry, country) and the verdict travel on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routing.simulator.cards import APPROVED, CardVerdict, Verdict, card_brand, judge_card
from routing.simulator.errors import bad_request
from routing.simulator.records import CardSummary

MAX_AMOUNT_MINOR = 10**15
MAX_REFERENCE_LENGTH = 200
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
        verdict = CardVerdict(Verdict.THREE_DS)
    return AuthorizeInput(**common, card=card, verdict=verdict)


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
