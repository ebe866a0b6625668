"""Card-number rules: normalization, brand detection by IIN range, lengths, CVC, expiry, BINs.

Everything here is pure (no database, no keys). Error messages never contain the number.

Brand ranges (public IIN tables, as the card networks publish them):
    Visa 4 · Mastercard 51–55 and 2221–2720 · American Express 34, 37 · Discover 6011,
    622126–622925, 644–649, 65 · JCB 3528–3589 · Diners Club 300–305, 3095, 36, 38–39 ·
    UnionPay 62, 81 · Maestro 50, 56–58, 6 (what the others leave), 5018, 5020, 5038, 5893,
    6304, 6759, 6761–6763.
The most specific (longest) matching prefix wins, so 622126 is Discover and 620000 UnionPay.
A number in no network's range (0…, 1…, 7…, 8… except 81, 9…, and the gaps in 2 and 3) is
refused with `invalid_number`, even when it passes Luhn: "0000 0000 0000 0000" is no card, and
no provider we route to would authorize it.

BIN table: a tiny built-in map of well-known *test* card prefixes to issuing country and
funding type (longest prefix wins). The simulator's test cards (4242…, 4000 0000 0000 xxxx,
4100…) are "US"; Stripe's country test cards (4000 0076 0000 0002 → BR, …) map to their country.
A production deployment would load a licensed BIN file instead; unknown BINs give country "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum import luhn

from core.errors import InvalidRequest

VISA = "visa"
MASTERCARD = "mastercard"
AMEX = "amex"
DISCOVER = "discover"
JCB = "jcb"
DINERS = "diners"
UNIONPAY = "unionpay"
MAESTRO = "maestro"
UNKNOWN = "unknown"

MAX_RAW_NUMBER_CHARS = 40  # 19 digits plus separators; anything longer is not a card number
MAX_EXPIRY_YEARS_AHEAD = 20


@dataclass(frozen=True)
class BrandRule:
    brand: str
    lengths: tuple[int, ...]
    cvc_lengths: tuple[int, ...]


RULES: dict[str, BrandRule] = {
    VISA: BrandRule(VISA, (13, 16, 19), (3,)),
    MASTERCARD: BrandRule(MASTERCARD, (16,), (3,)),
    AMEX: BrandRule(AMEX, (15,), (4,)),
    DISCOVER: BrandRule(DISCOVER, (16, 17, 18, 19), (3,)),
    JCB: BrandRule(JCB, (16, 17, 18, 19), (3,)),
    DINERS: BrandRule(DINERS, (14, 15, 16, 17, 18, 19), (3,)),
    UNIONPAY: BrandRule(UNIONPAY, (16, 17, 18, 19), (3,)),
    MAESTRO: BrandRule(MAESTRO, (12, 13, 14, 15, 16, 17, 18, 19), (3,)),
}

# (first prefix, last prefix, brand): both ends inclusive, compared on the same number of digits.
_RANGES: tuple[tuple[str, str, str], ...] = (
    ("4", "4", VISA),
    ("51", "55", MASTERCARD),
    ("2221", "2720", MASTERCARD),
    ("34", "34", AMEX),
    ("37", "37", AMEX),
    ("6011", "6011", DISCOVER),
    ("622126", "622925", DISCOVER),
    ("644", "649", DISCOVER),
    ("65", "65", DISCOVER),
    ("3528", "3589", JCB),
    ("300", "305", DINERS),
    ("3095", "3095", DINERS),
    ("36", "36", DINERS),
    ("38", "39", DINERS),
    ("62", "62", UNIONPAY),
    ("81", "81", UNIONPAY),
    ("50", "50", MAESTRO),
    ("56", "58", MAESTRO),
    ("6", "6", MAESTRO),
    ("5018", "5018", MAESTRO),
    ("5020", "5020", MAESTRO),
    ("5038", "5038", MAESTRO),
    ("5893", "5893", MAESTRO),
    ("6304", "6304", MAESTRO),
    ("6759", "6759", MAESTRO),
    ("6761", "6763", MAESTRO),
)

# prefix → (country, funding); longest prefix wins. Test BINs only (see the module docstring).
_TEST_BINS: dict[str, tuple[str, str]] = {
    "424242": ("US", "credit"),
    "400000": ("US", "credit"),
    "410000": ("US", "credit"),
    "400005": ("US", "debit"),
    "555555": ("US", "credit"),
    "222300": ("US", "credit"),
    "520082": ("US", "debit"),
    "510510": ("US", "prepaid"),
    "378282": ("US", "credit"),
    "371449": ("US", "credit"),
    "601111": ("US", "credit"),
    "601100": ("US", "credit"),
    "305693": ("US", "credit"),
    "362270": ("US", "credit"),
    "353011": ("JP", "credit"),
    "356600": ("JP", "credit"),
    "620000": ("CN", "credit"),
    "4000000760": ("BR", "credit"),
    "4000001240": ("CA", "credit"),
    "4000002500": ("FR", "credit"),
    "4000002760": ("DE", "credit"),
    "4000003920": ("JP", "credit"),
    "4000004840": ("MX", "credit"),
    "4000008260": ("GB", "credit"),
    "4000000400": ("AT", "credit"),
}

_SEPARATORS = re.compile(r"[ -]")


def normalize_number(raw: str) -> str:
    """Digits only; spaces and dashes are accepted as separators. Raises invalid_number."""
    if not isinstance(raw, str) or len(raw) > MAX_RAW_NUMBER_CHARS:
        raise _invalid_number()
    digits = _SEPARATORS.sub("", raw.strip())
    if not digits.isascii() or not digits.isdigit():
        raise _invalid_number()
    return digits


def detect_brand(digits: str) -> str:
    """The network whose IIN range holds `digits`, or UNKNOWN (which `validate_number` refuses)."""
    best_brand, best_length = UNKNOWN, 0
    for first, last, brand in _RANGES:
        width = len(first)
        if len(digits) >= width and first <= digits[:width] <= last and width > best_length:
            best_brand, best_length = brand, width
    return best_brand


def _invalid_number() -> InvalidRequest:
    return InvalidRequest(
        "Your card number is invalid.", code="invalid_number", param="card[number]"
    )


def validate_number(raw: str) -> tuple[str, str]:
    """(digits, brand) of a valid card number: Luhn and the brand's length."""
    digits = normalize_number(raw)
    brand = detect_brand(digits)
    if brand not in RULES:
        # No card network issues from this IIN: refuse it rather than store a non-card.
        raise _invalid_number()
    if len(digits) not in RULES[brand].lengths:
        raise InvalidRequest(
            f"Your card number has the wrong number of digits for a {brand} card.",
            code="invalid_number",
            param="card[number]",
        )
    if not luhn.is_valid(digits):
        raise _invalid_number()
    return digits, brand


def validate_expiry(*, exp_month: int, exp_year: int, today: date | None = None) -> int:
    """The four-digit expiry year; raises invalid_expiry_month/_year or expired_card."""
    today = today or date.today()
    if not isinstance(exp_month, int) or not 1 <= exp_month <= 12:
        raise InvalidRequest(
            "Your card's expiration month is invalid (1–12).",
            code="invalid_expiry_month",
            param="card[exp_month]",
        )
    if isinstance(exp_year, int) and 0 <= exp_year <= 99:
        exp_year += 2000  # "27" means 2027, as printed on the card
    if not isinstance(exp_year, int) or not (
        2000 <= exp_year <= today.year + MAX_EXPIRY_YEARS_AHEAD
    ):
        raise InvalidRequest(
            "Your card's expiration year is invalid.",
            code="invalid_expiry_year",
            param="card[exp_year]",
        )
    if (exp_year, exp_month) < (today.year, today.month):
        raise InvalidRequest("Your card has expired.", code="expired_card", param="card[exp_year]")
    return exp_year


def validate_cvc(cvc: str | None, *, brand: str) -> str | None:
    if cvc is None or cvc == "":
        return None
    lengths = RULES[brand].cvc_lengths
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) in lengths):
        expected = " or ".join(str(n) for n in lengths)
        raise InvalidRequest(
            f"Your card's security code is invalid ({expected} digits for this card).",
            code="invalid_cvc",
            param="card[cvc]",
        )
    return cvc


@dataclass(frozen=True)
class BinInfo:
    bin: str
    country: str
    funding: str


def bin_info(digits: str) -> BinInfo:
    for length in range(min(len(digits), 10), 5, -1):
        found = _TEST_BINS.get(digits[:length])
        if found:
            return BinInfo(bin=digits[:6], country=found[0], funding=found[1])
    return BinInfo(bin=digits[:6], country="", funding="unknown")
