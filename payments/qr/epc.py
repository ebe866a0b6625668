"""The EPC069-12 QR payload for a SEPA credit transfer ("GiroCode", "Scan2Pay").

Lines joined by LF: service tag BCD, version (001, or 002 which may leave the BIC out inside the
EEA), character set 1 (UTF-8), identification SCT, BIC, beneficiary name (max 70), IBAN,
amount "EUR" + euros (0.01–999999999.99; whole euros without decimals, as the EPC example
writes "EUR1", otherwise two decimals), purpose code (4 letters, optional), then either a
structured creditor reference (max 35; an ISO 11649 "RF" reference is checked) or unstructured
remittance text (max 140), and a beneficiary-to-originator information line (max 70).
Trailing empty elements are left out. The whole payload is at most 331 bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import iso11649

SERVICE_TAG = "BCD"
IDENTIFICATION = "SCT"
CHARSET_UTF8 = "1"
VERSIONS = ("001", "002")
CHARSETS = tuple(str(number) for number in range(1, 9))
MAX_PAYLOAD_BYTES = 331
MAX_NAME_CHARS = 70
MAX_REFERENCE_CHARS = 35
MAX_TEXT_CHARS = 140
MAX_INFORMATION_CHARS = 70
MIN_AMOUNT_MINOR = 1
MAX_AMOUNT_MINOR = 99_999_999_999  # EUR 999,999,999.99
MAX_LINES = 12

_AMOUNT = re.compile(r"EUR([0-9]{1,9})(?:\.([0-9]{1,2}))?")
_PURPOSE = re.compile(r"[A-Z]{4}")


@dataclass(frozen=True)
class EpcTransfer:
    """What an EPC QR code asks the payer's bank to send. `amount_minor` in euro cents, None when
    the payer fills it in; `reference` (structured) and `text` (unstructured) exclude each other."""

    name: str
    iban: str
    amount_minor: int | None = None
    bic: str = ""
    purpose: str = ""
    reference: str = ""
    text: str = ""
    information: str = ""
    version: str = "002"


def build_epc(
    *,
    name: str,
    iban: str,
    amount_minor: int | None = None,
    bic: str = "",
    purpose: str = "",
    reference: str = "",
    text: str = "",
    information: str = "",
    version: str = "002",
) -> str:
    """The payload for one transfer. IBAN, BIC and an RF reference are written compact
    (no spaces, upper case). ValueError on anything the guideline refuses."""
    transfer = _normalised(
        EpcTransfer(
            name=name,
            iban=iban,
            amount_minor=amount_minor,
            bic=bic,
            purpose=purpose,
            reference=reference,
            text=text,
            information=information,
            version=version,
        )
    )
    lines = [
        SERVICE_TAG,
        transfer.version,
        CHARSET_UTF8,
        IDENTIFICATION,
        transfer.bic,
        transfer.name,
        transfer.iban,
        format_amount(transfer.amount_minor) if transfer.amount_minor is not None else "",
        transfer.purpose,
        transfer.reference,
        transfer.text,
        transfer.information,
    ]
    while not lines[-1]:
        lines.pop()
    payload = "\n".join(lines)
    _check_size(payload)
    return payload


def parse_epc(payload: str) -> EpcTransfer:
    """The transfer an EPC069-12 payload describes; LF or CR LF line ends. ValueError on
    anything the guideline refuses (the fields are checked as strictly as when building)."""
    _check_size(payload)
    lines = payload.split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    if len(lines) > MAX_LINES:
        raise ValueError(f"EPC payload has {len(lines)} lines, at most {MAX_LINES}")
    if len(lines) < 7:
        raise ValueError("EPC payload is truncated: it needs at least the lines up to the IBAN")
    lines += [""] * (MAX_LINES - len(lines))
    (tag, version, charset, identification, bic, name, iban, amount, purpose, reference, text,
     information) = lines  # fmt: skip
    if tag != SERVICE_TAG:
        raise ValueError(f"EPC service tag must be {SERVICE_TAG}, not {tag!r}")
    if charset not in CHARSETS:
        raise ValueError(f"EPC character set must be 1–8, not {charset!r}")
    if identification != IDENTIFICATION:
        raise ValueError(f"EPC identification must be {IDENTIFICATION}, not {identification!r}")
    transfer = EpcTransfer(
        name=name,
        iban=iban,
        amount_minor=parse_amount(amount) if amount else None,
        bic=bic,
        purpose=purpose,
        reference=reference,
        text=text,
        information=information,
        version=version,
    )
    return _normalised(transfer)


def format_amount(amount_minor: int) -> str:
    """Euro cents as the amount line: 100 -> "EUR1", 12345 -> "EUR123.45"."""
    euros, cents = divmod(amount_minor, 100)
    return f"EUR{euros}" if not cents else f"EUR{euros}.{cents:02d}"


def parse_amount(text: str) -> int:
    """The amount line back to euro cents; 0.01–999999999.99 EUR."""
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise ValueError(f"EPC amount {text!r} is not EUR followed by euros, 2 decimals at most")
    cents = int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))
    if not MIN_AMOUNT_MINOR <= cents <= MAX_AMOUNT_MINOR:
        raise ValueError("EPC amount must be between EUR0.01 and EUR999999999.99")
    return cents


def _normalised(transfer: EpcTransfer) -> EpcTransfer:
    if transfer.version not in VERSIONS:
        raise ValueError(f"EPC version must be 001 or 002, not {transfer.version!r}")
    for label, value in (
        ("name", transfer.name),
        ("purpose", transfer.purpose),
        ("reference", transfer.reference),
        ("text", transfer.text),
        ("information", transfer.information),
    ):
        if value and not value.isprintable():
            raise ValueError(f"EPC {label} must be printable text on one line")
    if not transfer.name.strip() or len(transfer.name) > MAX_NAME_CHARS:
        raise ValueError(f"EPC beneficiary name must be 1–{MAX_NAME_CHARS} characters")
    if transfer.amount_minor is not None and not (
        MIN_AMOUNT_MINOR <= transfer.amount_minor <= MAX_AMOUNT_MINOR
    ):
        raise ValueError("EPC amount must be between EUR0.01 and EUR999999999.99")
    if transfer.purpose and not _PURPOSE.fullmatch(transfer.purpose):
        raise ValueError("EPC purpose must be a 4-letter ISO 20022 purpose code")
    if transfer.reference and transfer.text:
        raise ValueError("EPC takes a structured reference or unstructured text, not both")
    if len(transfer.text) > MAX_TEXT_CHARS:
        raise ValueError(f"EPC remittance text must be at most {MAX_TEXT_CHARS} characters")
    if len(transfer.information) > MAX_INFORMATION_CHARS:
        raise ValueError(f"EPC information must be at most {MAX_INFORMATION_CHARS} characters")
    return EpcTransfer(
        name=transfer.name,
        iban=_iban(transfer.iban),
        amount_minor=transfer.amount_minor,
        bic=_bic(transfer.bic, version=transfer.version),
        purpose=transfer.purpose,
        reference=_reference(transfer.reference),
        text=transfer.text,
        information=transfer.information,
        version=transfer.version,
    )


def _iban(value: str) -> str:
    try:
        return IBAN(value).compact
    except SchwiftyException as error:
        raise ValueError(f"EPC IBAN {value!r} is invalid: {error}")


def _bic(value: str, *, version: str) -> str:
    if not value:
        if version == "001":
            raise ValueError("EPC version 001 needs the BIC (002 may leave it out in the EEA)")
        return ""
    try:
        return str(BIC(value))
    except SchwiftyException as error:
        raise ValueError(f"EPC BIC {value!r} is invalid: {error}")


def _reference(value: str) -> str:
    if not value:
        return ""
    if value[:2].upper() == "RF":
        if not iso11649.is_valid(value):
            raise ValueError(f"EPC creditor reference {value!r} fails the ISO 11649 check")
        return iso11649.compact(value)
    if len(value) > MAX_REFERENCE_CHARS or " " in value:
        raise ValueError(
            f"EPC structured reference must be at most {MAX_REFERENCE_CHARS} characters, no spaces"
        )
    return value


def _check_size(payload: str) -> None:
    size = len(payload.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"EPC payload is {size} bytes, at most {MAX_PAYLOAD_BYTES}")
