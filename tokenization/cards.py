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

Test cards: `TEST_CARDS` is THE list of what counts as a test card (Stripe's published test card
numbers, https://docs.stripe.com/testing: by brand, by country, declines, fraud, 3-D Secure,
disputes). Test mode accepts only these and live mode refuses them (`services.create_token`);
the simulator's behaviour table (routing/simulator/cards.py) gives outcomes to a subset of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum import luhn

from core.errors import CardDeclined, InvalidRequest

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


# --- test cards ----------------------------------------------------------------------------------

# number → what Stripe documents it for (docs/api.md, "Test cards", shows the same table).
TEST_CARDS: dict[str, str] = {
    # by brand
    "4242424242424242": "Visa",
    "4000056655665556": "Visa (debit)",
    "5555555555554444": "Mastercard",
    "2223003122003222": "Mastercard (2-series)",
    "5200828282828210": "Mastercard (debit)",
    "5105105105105100": "Mastercard (prepaid)",
    "378282246310005": "American Express",
    "371449635398431": "American Express",
    "6011111111111117": "Discover",
    "6011000990139424": "Discover",
    "6011981111111113": "Discover (debit)",
    "3056930009020004": "Diners Club",
    "36227206271667": "Diners Club (14-digit card)",
    "6555900000604105": "BCcard and DinaCard",
    "3566002020360505": "JCB",
    "6200000000000005": "UnionPay",
    "6200000000000047": "UnionPay (debit)",
    "6205500000000000004": "UnionPay (19-digit card)",
    # by country
    "4000000760000002": "Brazil (BR)",
    "4000001240000000": "Canada (CA)",
    "4000004840008001": "Mexico (MX)",
    "4000000400000008": "Austria (AT)",
    "4000000560000004": "Belgium (BE)",
    "4000002080000001": "Denmark (DK)",
    "4000002460000001": "Finland (FI)",
    "4000002500000003": "France (FR)",
    "4000002760000016": "Germany (DE)",
    "4000003720000005": "Ireland (IE)",
    "4000003800000008": "Italy (IT)",
    "4000005280000002": "Netherlands (NL)",
    "4000005780000007": "Norway (NO)",
    "4000006160000005": "Poland (PL)",
    "4000006200000007": "Portugal (PT)",
    "4000007240000007": "Spain (ES)",
    "4000007520000008": "Sweden (SE)",
    "4000007560000009": "Switzerland (CH)",
    "4000008260000000": "United Kingdom (GB)",
    "4000058260000005": "United Kingdom (GB, debit)",
    "5555558265554449": "United Kingdom (GB, Mastercard)",
    "4000007840000001": "United Arab Emirates (AE)",
    "4000000360000006": "Australia (AU)",
    "4000001560000002": "China (CN)",
    "4000003440000004": "Hong Kong (HK)",
    "4000003560000008": "India (IN)",
    "4000003920000003": "Japan (JP)",
    "3530111333300000": "Japan (JP, JCB)",
    "4000005540000008": "New Zealand (NZ)",
    "4000007020000003": "Singapore (SG)",
    # declines
    "4000000000000002": "declined: generic_decline",
    "4000000000009995": "declined: insufficient_funds",
    "4000000000009987": "declined: lost_card",
    "4000000000009979": "declined: stolen_card",
    "4000000000000069": "declined: expired_card",
    "4000000000000127": "declined: incorrect_cvc",
    "4000000000000119": "declined: processing_error",
    "4000000000006975": "declined: card_velocity_exceeded",
    # fraud
    "4100000000000019": "always blocked as fraud (decline_code fraudulent)",
    # 3-D Secure
    "4000000000003220": "3-D Secure 2 required",
    "4000000000003063": "3-D Secure required",
    # disputes
    "4000000000000259": "disputed after capture (fraudulent)",
    "4000000000002685": "disputed after capture (product_not_received)",
    "4000000000001976": "inquiry after capture",
}
# Stripe's answers, word for word where they apply (its sandbox names the mode, then the card).
LIVE_MODE_TEST_CARD_MESSAGE = (
    "Your card was declined. Your request was in live mode, but used a known test card."
)
TEST_MODE_LIVE_CARD_MESSAGE = (
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, see the API documentation (docs/api.md, Test cards)."
)


def is_test_card(digits: str) -> bool:
    """Whether `digits` (a normalized number) is one of the published test cards."""
    return digits in TEST_CARDS


def check_mode(digits: str, *, livemode: bool, any_card_in_test_mode: bool = False) -> None:
    """Test mode takes only test cards and live mode refuses them: 402 `card_declined` with
    decline_code `live_mode_test_card` (test mode, a live card: one that is not a test card) or
    `test_mode_live_card` (live mode, a test-mode card), the codes our API contract names
    (docs/api.md). `any_card_in_test_mode` lifts the first refusal (VAULT_TEST_MODE_ANY_CARD,
    for load benchmarks that need many distinct cards)."""
    test_card = is_test_card(digits)
    if livemode and test_card:
        raise CardDeclined(
            LIVE_MODE_TEST_CARD_MESSAGE, decline_code="test_mode_live_card", param="card[number]"
        )
    if not livemode and not test_card and not any_card_in_test_mode:
        raise CardDeclined(
            TEST_MODE_LIVE_CARD_MESSAGE, decline_code="live_mode_test_card", param="card[number]"
        )
