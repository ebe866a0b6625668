"""Supported currencies and their ISO 4217 minor-unit exponents.

Amounts are integers in the minor unit: EUR 1050 is €10.50, JPY 1050 is ¥1050, KWD 1050 is
1.050 KD. The largest accepted amount is PAYMENTS_MAX_AMOUNT_MAJOR whole units of the
currency, so the limit means the same in every currency whatever its exponent.
"""

from __future__ import annotations

from django.conf import settings

EXPONENTS: dict[str, int] = {
    # two decimals
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "DKK": 2, "NOK": 2, "PLN": 2, "CZK": 2,
    "HUF": 2, "RON": 2, "AUD": 2, "CAD": 2, "NZD": 2, "SGD": 2, "HKD": 2, "BRL": 2, "MXN": 2,
    "INR": 2, "MYR": 2, "THB": 2, "PHP": 2, "IDR": 2, "ZAR": 2, "AED": 2, "ILS": 2, "TRY": 2,
    # zero decimals
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XOF": 0, "XAF": 0,
    # three decimals
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def exponent(currency: str) -> int:
    return EXPONENTS[currency.upper()]


def is_supported(currency: str) -> bool:
    return currency.upper() in EXPONENTS


def max_amount_minor(currency: str) -> int:
    return settings.PAYMENTS_MAX_AMOUNT_MAJOR * 10 ** exponent(currency)


def format_amount(amount_minor: int, currency: str) -> str:
    """What a customer reads: 1999 EUR → "19.99 EUR", 1999 JPY → "1,999 JPY"."""
    places = exponent(currency)
    major, minor = divmod(amount_minor, 10**places)
    fraction = f".{minor:0{places}d}" if places else ""
    return f"{major:,}{fraction} {currency.upper()}"
