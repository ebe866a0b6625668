"""UPI payment links (NPCI "upi://pay" deep links, what UPI QR codes carry).

upi://pay?pa=VPA&pn=NAME&am=12.34&cu=INR&tr=REF&tn=NOTE — pa is the payee's virtual payment
address (name@handle), pn the payee name, am the amount in rupees with two decimals, cu the
currency (always INR), tr the transaction reference, tn a note. Values are percent-encoded
(a space is %20); the parser also reads "+" as a space, as form-encoded links write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

PREFIX = "upi://pay"
CURRENCY = "INR"
MAX_NAME_CHARS = 99
MAX_REFERENCE_CHARS = 35
MAX_NOTE_CHARS = 80
MAX_AMOUNT_MINOR = 99_999_999_999  # 999,999,999.99 rupees: far above any UPI limit

_VPA = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{1,255}@[A-Za-z][A-Za-z0-9.\-]{1,63}")
_AMOUNT = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,2}))?")
_KNOWN = ("pa", "pn", "am", "cu", "tr", "tn", "mc")


@dataclass(frozen=True)
class UpiPayment:
    """The fields of one UPI link. `amount_minor` in paise; None leaves the amount to the payer."""

    vpa: str
    payee_name: str
    amount_minor: int | None = None
    reference: str = ""
    note: str = ""
    mcc: str = ""


def is_vpa(value: str) -> bool:
    """Whether `value` has the form of a virtual payment address, name@handle."""
    return bool(_VPA.fullmatch(value))


def build_upi(
    *,
    vpa: str,
    payee_name: str,
    amount_minor: int | None = None,
    reference: str = "",
    note: str = "",
    mcc: str = "",
) -> str:
    """The upi://pay link for one payment; ValueError on a field UPI refuses."""
    payment = UpiPayment(
        vpa=vpa,
        payee_name=payee_name,
        amount_minor=amount_minor,
        reference=reference,
        note=note,
        mcc=mcc,
    )
    _validate(payment)
    params = [("pa", vpa), ("pn", payee_name)]
    if mcc:
        params.append(("mc", mcc))
    if amount_minor is not None:
        rupees, paise = divmod(amount_minor, 100)
        params.append(("am", f"{rupees}.{paise:02d}"))
    params.append(("cu", CURRENCY))
    if reference:
        params.append(("tr", reference))
    if note:
        params.append(("tn", note))
    query = "&".join(f"{key}={quote(value, safe='@')}" for key, value in params)
    return f"{PREFIX}?{query}"


def parse_upi(link: str) -> UpiPayment:
    """The fields of a upi://pay link; ValueError on anything malformed or missing."""
    parts = urlsplit(link)
    if (
        parts.scheme.lower() != "upi"
        or parts.netloc.lower() != "pay"
        or parts.path not in ("", "/")
    ):
        raise ValueError("a UPI link starts with upi://pay?")
    if parts.fragment:
        raise ValueError("a UPI link has no fragment")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True, errors="strict")
    except ValueError:
        raise ValueError("UPI link query is not key=value pairs joined by &")
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise ValueError(f"UPI link repeats parameter {key}")
        fields[key] = value
    for key in ("pa", "pn"):
        if not fields.get(key):
            raise ValueError(f"UPI link lacks {key}")
    if fields.get("cu", CURRENCY) != CURRENCY:
        raise ValueError(f"UPI currency must be {CURRENCY}, not {fields['cu']!r}")
    payment = UpiPayment(
        vpa=fields["pa"],
        payee_name=fields["pn"],
        amount_minor=_parse_amount(fields["am"]) if "am" in fields else None,
        reference=fields.get("tr", ""),
        note=fields.get("tn", ""),
        mcc=fields.get("mc", ""),
    )
    _validate(payment)
    return payment


def _parse_amount(text: str) -> int:
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise ValueError(f"UPI amount {text!r} is not rupees with at most two decimals")
    rupees, paise = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(rupees) * 100 + int(paise)


def _validate(payment: UpiPayment) -> None:
    if not is_vpa(payment.vpa):
        raise ValueError(f"UPI address {payment.vpa!r} is not of the form name@handle")
    _check_text("payee name", payment.payee_name, MAX_NAME_CHARS, required=True)
    _check_text("reference", payment.reference, MAX_REFERENCE_CHARS)
    _check_text("note", payment.note, MAX_NOTE_CHARS)
    if payment.mcc and not re.fullmatch(r"[0-9]{4}", payment.mcc):
        raise ValueError("UPI merchant code (mc) must be 4 digits")
    if payment.amount_minor is not None and not 0 < payment.amount_minor <= MAX_AMOUNT_MINOR:
        raise ValueError("UPI amount must be positive and below 1,000,000,000 rupees")


def _check_text(label: str, value: str, limit: int, *, required: bool = False) -> None:
    if required and not value.strip():
        raise ValueError(f"UPI {label} is required")
    if len(value) > limit:
        raise ValueError(f"UPI {label} must be at most {limit} characters")
    if value and not value.isprintable():
        raise ValueError(f"UPI {label} must be printable text")
