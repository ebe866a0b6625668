"""EMVCo merchant-presented QR payloads: the TLV codec, the CRC, and the scheme profiles.

A payload is a run of fields "IDLLvalue": a two-digit ID, a two-digit length counted in
characters, then the value. Templates 26–51 (merchant account information) and 62 (additional
data) hold fields of the same form. The payload ends with field 63, the CRC-16/CCITT-FALSE of
everything before it including "6304", over the UTF-8 bytes, as four upper-case hex digits.

Profiles fill the merchant account template the way each scheme defines it:

- ``pix`` (Banco Central do Brasil BR Code): template 26, GUI "br.gov.bcb.pix", key in 01 (or,
  for a dynamic BR Code, the payload location URL in 25); BR, BRL; the txid in 62/05, "***"
  when there is none.
- ``paynow`` (Singapore): template 26, "SG.PAYNOW", proxy type 2 (UEN) in 01, the UEN in 02,
  amount editable in 03, optional expiry date in 04; SG, SGD; the reference in 62/01 (bill
  number, what PayNow apps show and pass on to the beneficiary's bank).
- ``promptpay`` (Thailand): template 29, AID "A000000677010111", a mobile number in 01 as
  0066 + the number without its leading 0, or a national/tax id in 02; TH, THB; reference 62/05.
- ``emvco``: template 26 with a configurable GUI (default "com.qrpayments") and the account id
  in 01; any currency this platform supports; reference in 62/05.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from stdnum.br import cnpj, cpf
from stdnum.sg import uen
from stdnum.th import tin

from payments.currencies import EXPONENTS
from payments.qr.crc import crc16_hex

PROFILES: tuple[str, ...] = ("emvco", "pix", "paynow", "promptpay")

# ISO 4217 numeric codes of the currencies the platform supports (payments/currencies.py).
NUMERIC_CURRENCY: dict[str, str] = {
    "EUR": "978", "USD": "840", "GBP": "826", "CHF": "756", "SEK": "752", "DKK": "208",
    "NOK": "578", "PLN": "985", "CZK": "203", "HUF": "348", "RON": "946", "AUD": "036",
    "CAD": "124", "NZD": "554", "SGD": "702", "HKD": "344", "BRL": "986", "MXN": "484",
    "INR": "356", "MYR": "458", "THB": "764", "PHP": "608", "IDR": "360", "ZAR": "710",
    "AED": "784", "ILS": "376", "TRY": "949", "JPY": "392", "KRW": "410", "VND": "704",
    "CLP": "152", "ISK": "352", "UGX": "800", "XOF": "952", "XAF": "950", "KWD": "414",
    "BHD": "048", "JOD": "400", "OMR": "512", "TND": "788",
}  # fmt: skip
ALPHA_CURRENCY: dict[str, str] = {numeric: alpha for alpha, numeric in NUMERIC_CURRENCY.items()}

PIX_GUI = "br.gov.bcb.pix"
PAYNOW_GUI = "SG.PAYNOW"
PROMPTPAY_AID = "A000000677010111"
DEFAULT_GUI = "com.qrpayments"

MAX_VALUE_CHARS = 99  # two length digits
MAX_NAME_CHARS = 25
MAX_CITY_CHARS = 15
MAX_AMOUNT_CHARS = 13
MAX_REFERENCE_CHARS = 25
MAX_PIX_KEY_CHARS = 77
MAX_TEMPLATE_CHARS = 99
MAX_GUI_CHARS = 32

POINT_OF_INITIATION_STATIC = "11"
POINT_OF_INITIATION_DYNAMIC = "12"

_TAG_TEMPLATE = {"pix": "26", "paynow": "26", "promptpay": "29", "emvco": "26"}
_REFERENCE_TAG = {"pix": "05", "paynow": "01", "promptpay": "05", "emvco": "05"}
_PROFILE_CURRENCY = {"pix": "BRL", "paynow": "SGD", "promptpay": "THB"}
_PROFILE_COUNTRY = {"pix": "BR", "paynow": "SG", "promptpay": "TH"}
PIX_NO_TXID = "***"

_ID = re.compile(r"[0-9]{2}")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{4}")
_DIGITS = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{8}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_BR_PHONE = re.compile(r"\+55[0-9]{10,11}")
_TH_MOBILE = re.compile(r"0[0-9]{9}")
_GUI = re.compile(r"[A-Za-z0-9.\-_]+")
_LOCATION = re.compile(r"[A-Za-z0-9.\-]+\.[A-Za-z]{2,}(/[!-~]*)?")

Field = tuple[str, str]


# --- TLV ---------------------------------------------------------------------------------------


def encode_tlv(fields: Iterable[Field]) -> str:
    """Fields in the given order as "IDLLvalue"; the length counts characters."""
    parts = []
    for tag, value in fields:
        if not _ID.fullmatch(tag):
            raise ValueError(f"EMVCo field id {tag!r} is not two digits")
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"EMVCo field {tag} is {len(value)} characters, at most 99 fit")
        parts.append(f"{tag}{len(value):02d}{value}")
    return "".join(parts)


def decode_tlv(text: str) -> list[Field]:
    """The (id, value) fields of `text`, in order; ValueError on a malformed or cut-off run."""
    fields: list[Field] = []
    position = 0
    while position < len(text):
        header = text[position : position + 4]
        if len(header) < 4:
            raise ValueError(f"EMVCo payload truncated: field header at {position} is incomplete")
        tag, length = header[:2], header[2:]
        if not _ID.fullmatch(tag) or not _ID.fullmatch(length):
            raise ValueError(f"EMVCo field at {position}: bad id or length {header!r}")
        start = position + 4
        value = text[start : start + int(length)]
        if len(value) != int(length):
            raise ValueError(
                f"EMVCo payload truncated: field {tag} declares {int(length)} characters, "
                f"{len(value)} remain"
            )
        fields.append((tag, value))
        position = start + int(length)
    return fields


def with_crc(body: str) -> str:
    """`body` followed by field 63 holding the CRC of body + "6304"."""
    head = body + "6304"
    return head + crc16_hex(head)


def verified_fields(payload: str) -> list[Field]:
    """The top-level fields of `payload` without the CRC, after checking the CRC."""
    fields = decode_tlv(payload)
    if not fields or fields[-1][0] != "63":
        raise ValueError("EMVCo payload has no CRC: it must end with field 63")
    if len(fields[-1][1]) != 4:
        raise ValueError("EMVCo CRC field 63 must hold 4 hex digits")
    if any(tag == "63" for tag, _ in fields[:-1]):
        raise ValueError("EMVCo field 63 (CRC) must appear once, at the end")
    expected = crc16_hex(payload[:-4])
    if fields[-1][1] != expected:  # upper-case hex, as EMVCo writes it
        raise ValueError(f"EMVCo CRC mismatch: payload says {fields[-1][1]}, computed {expected}")
    if fields[0] != ("00", "01"):
        raise ValueError("EMVCo payload must start with payload format indicator 000201")
    return fields[:-1]


# --- amounts ---------------------------------------------------------------------------------


def format_amount(amount_minor: int, currency: str) -> str:
    """`amount_minor` as field 54 writes it: a decimal with the currency's exponent."""
    places = EXPONENTS[currency]
    major, minor = divmod(amount_minor, 10**places)
    return f"{major}.{minor:0{places}d}" if places else str(major)


def parse_amount(text: str, currency: str) -> int:
    """Field 54 back to minor units; at most the currency's exponent in decimals."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]*)?", text) or len(text) > MAX_AMOUNT_CHARS:
        raise ValueError(f"EMVCo amount {text!r} is not a decimal of at most 13 characters")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"EMVCo amount {text!r} is not a decimal")
    scaled = value.scaleb(EXPONENTS[currency])
    if scaled != scaled.to_integral_value():
        raise ValueError(f"EMVCo amount {text!r} has more decimals than {currency} allows")
    if scaled <= 0:
        raise ValueError("EMVCo amount must be positive")
    return int(scaled)


# --- the payment a payload describes ------------------------------------------------------------


@dataclass(frozen=True)
class MerchantQR:
    """What an EMVCo merchant-presented payload says, whichever profile built it.

    `merchant_id` is the PIX key, the PayNow UEN, the PromptPay mobile number (local form,
    0812345678) or national/tax id, or the generic account id. `point_of_initiation` is "11"
    (static), "12" (dynamic, with an amount) or "" (field 01 left out, as the BR Code static
    example does). `gui` only matters to the generic profile; `expiry_date` (YYYYMMDD) only to
    PayNow; `location` (the URL of a dynamic BR Code, 26/25) only to PIX, in place of a key.
    """

    profile: str
    merchant_id: str
    merchant_name: str
    merchant_city: str
    currency: str
    amount_minor: int | None = None
    reference: str = ""
    mcc: str = "0000"
    country: str = ""
    point_of_initiation: str = ""
    gui: str = ""
    terminal_label: str = ""
    expiry_date: str = ""
    location: str = ""


def build_merchant_qr(
    *,
    profile: str,
    merchant_id: str,
    merchant_name: str,
    merchant_city: str,
    currency: str,
    amount_minor: int | None = None,
    reference: str = "",
    mcc: str = "0000",
    country: str = "",
    point_of_initiation: str | None = None,
    gui: str = DEFAULT_GUI,
    terminal_label: str = "",
    expiry_date: str = "",
    location: str = "",
) -> str:
    """The payload for one payment. `point_of_initiation` None means "12" with an amount and
    "11" without; "" leaves field 01 out. ValueError on anything the profile refuses."""
    qr = MerchantQR(
        profile=profile,
        merchant_id=merchant_id,
        merchant_name=merchant_name,
        merchant_city=merchant_city,
        currency=currency.upper(),
        amount_minor=amount_minor,
        reference=reference,
        mcc=mcc,
        country=country or _PROFILE_COUNTRY.get(profile, ""),
        point_of_initiation=(
            point_of_initiation
            if point_of_initiation is not None
            else (
                POINT_OF_INITIATION_STATIC if amount_minor is None else POINT_OF_INITIATION_DYNAMIC
            )
        ),
        gui=gui if profile == "emvco" else "",
        terminal_label=terminal_label,
        expiry_date=expiry_date,
        location=location,
    )
    return encode_merchant_qr(qr)


def encode_merchant_qr(qr: MerchantQR) -> str:
    """The payload for `qr`, fields in ascending id order, CRC last."""
    _validate(qr)
    fields: list[Field] = [("00", "01")]
    if qr.point_of_initiation:
        fields.append(("01", qr.point_of_initiation))
    fields.append((_TAG_TEMPLATE[qr.profile], encode_tlv(_account_fields(qr))))
    fields += [("52", qr.mcc), ("53", NUMERIC_CURRENCY[qr.currency])]
    if qr.amount_minor is not None:
        fields.append(("54", format_amount(qr.amount_minor, qr.currency)))
    fields += [("58", qr.country), ("59", qr.merchant_name), ("60", qr.merchant_city)]
    fields = [(tag, value) for tag, value in fields if value]  # PromptPay may omit 52/59/60
    additional = _additional_fields(qr)
    if additional:
        fields.append(("62", encode_tlv(additional)))
    return with_crc(encode_tlv(fields))


def parse_merchant_qr(payload: str) -> MerchantQR:
    """The payment `payload` describes. Checks the CRC, the TLV structure and the profile's
    rules; the profile is recognised by the GUI/AID of a merchant account template, falling back
    to the generic profile for template 26. ValueError on anything wrong."""
    fields = verified_fields(payload)
    top = _unique(fields, "the payload")
    profile, account = _find_account(fields)
    # PromptPay transfer codes commonly leave out MCC, name and city (Thai QR standard)
    mandatory = ("53", "58") if profile == "promptpay" else ("52", "53", "58", "59", "60")
    for tag in mandatory:
        if tag not in top:
            raise ValueError(f"EMVCo payload lacks mandatory field {tag}")
    currency = ALPHA_CURRENCY.get(top["53"])
    if currency is None:
        raise ValueError(f"EMVCo currency {top['53']!r} is not one this platform supports")
    additional = _unique(decode_tlv(top.get("62", "")), "template 62")
    reference = additional.get(_REFERENCE_TAG[profile], "")
    if profile == "pix" and reference == PIX_NO_TXID:
        reference = ""
    qr = MerchantQR(
        profile=profile,
        merchant_id=_merchant_id(profile, account),
        merchant_name=top.get("59", ""),
        merchant_city=top.get("60", ""),
        currency=currency,
        amount_minor=parse_amount(top["54"], currency) if "54" in top else None,
        reference=reference,
        mcc=top.get("52", ""),
        country=top["58"],
        point_of_initiation=top.get("01", ""),
        gui=account["00"] if profile == "emvco" else "",
        terminal_label=additional.get("07", ""),
        expiry_date=account.get("04", "") if profile == "paynow" else "",
        location=account.get("25", "") if profile == "pix" else "",
    )
    _validate(qr)
    if profile == "paynow" and account.get("03") not in ("0", "1"):
        raise ValueError("PayNow template 26/03 (amount editable) must be 0 or 1")
    return qr


# --- profile rules ------------------------------------------------------------------------------


def _find_account(fields: list[Field]) -> tuple[str, dict[str, str]]:
    templates = [
        (tag, _unique(decode_tlv(value), f"template {tag}"))
        for tag, value in fields
        if "26" <= tag <= "51"
    ]
    if not templates:
        raise ValueError("EMVCo payload has no merchant account template (26–51)")
    for tag, account in templates:
        gui = account.get("00", "")
        if gui.lower() == PIX_GUI:
            return "pix", account
        if gui.upper() == PAYNOW_GUI:
            return "paynow", account
        if tag == "29" and gui.upper() == PROMPTPAY_AID:
            return "promptpay", account
    for tag, account in templates:
        if tag == "26" and "00" in account and "01" in account:
            return "emvco", account
    raise ValueError("EMVCo payload has no merchant account template this platform reads")


def _unique(fields: list[Field], where: str) -> dict[str, str]:
    values = dict(fields)
    if len(values) != len(fields):
        raise ValueError(f"EMVCo {where} repeats a field")
    return values


def _merchant_id(profile: str, account: dict[str, str]) -> str:
    if profile == "pix":
        if ("01" in account) == ("25" in account):
            raise ValueError("PIX template 26 needs exactly one of key (01) or location (25)")
        return account.get("01", "")
    if profile == "paynow":
        if account.get("01") != "2":
            raise ValueError("PayNow proxy type (26/01) must be 2, a UEN")
        if "02" not in account:
            raise ValueError("PayNow template 26 lacks the UEN (02)")
        return account["02"]
    if profile == "promptpay":
        if ("01" in account) == ("02" in account):
            raise ValueError("PromptPay template 29 needs exactly one of mobile (01) or id (02)")
        if "01" in account:
            mobile = account["01"]
            if not re.fullmatch(r"0066[0-9]{9}", mobile):
                raise ValueError("PromptPay mobile (29/01) must be 0066 and 9 digits")
            return "0" + mobile[4:]
        return account["02"]
    return account["01"]


def _account_fields(qr: MerchantQR) -> list[Field]:
    if qr.profile == "pix":
        if qr.location:
            return [("00", PIX_GUI), ("25", qr.location)]
        return [("00", PIX_GUI), ("01", qr.merchant_id)]
    if qr.profile == "paynow":
        editable = "1" if qr.amount_minor is None else "0"
        fields = [("00", PAYNOW_GUI), ("01", "2"), ("02", qr.merchant_id), ("03", editable)]
        return fields + ([("04", qr.expiry_date)] if qr.expiry_date else [])
    if qr.profile == "promptpay":
        if _TH_MOBILE.fullmatch(qr.merchant_id):
            return [("00", PROMPTPAY_AID), ("01", "0066" + qr.merchant_id[1:])]
        return [("00", PROMPTPAY_AID), ("02", qr.merchant_id)]
    return [("00", qr.gui), ("01", qr.merchant_id)]


def _additional_fields(qr: MerchantQR) -> list[Field]:
    reference = qr.reference or (PIX_NO_TXID if qr.profile == "pix" else "")
    fields = [(_REFERENCE_TAG[qr.profile], reference)] if reference else []
    if qr.terminal_label:
        fields.append(("07", qr.terminal_label))
    return sorted(fields)


def _validate(qr: MerchantQR) -> None:
    if qr.profile not in PROFILES:
        raise ValueError(f"unknown EMVCo profile {qr.profile!r}; known: {', '.join(PROFILES)}")
    _validate_common(qr)
    {
        "pix": _validate_pix,
        "paynow": _validate_paynow,
        "promptpay": _validate_promptpay,
        "emvco": _validate_generic,
    }[qr.profile](qr)


def _validate_common(qr: MerchantQR) -> None:
    if qr.currency not in NUMERIC_CURRENCY:
        raise ValueError(f"currency {qr.currency!r} is not one this platform supports")
    expected = _PROFILE_CURRENCY.get(qr.profile)
    if expected and qr.currency != expected:
        raise ValueError(f"{qr.profile} takes {expected} only, not {qr.currency}")
    expected_country = _PROFILE_COUNTRY.get(qr.profile)
    if expected_country and qr.country != expected_country:
        raise ValueError(f"{qr.profile} country must be {expected_country}, not {qr.country!r}")
    if not _COUNTRY.fullmatch(qr.country):
        raise ValueError(f"country {qr.country!r} is not an ISO 3166-1 alpha-2 code")
    optional = qr.profile == "promptpay"
    if not (_MCC.fullmatch(qr.mcc) or (optional and not qr.mcc)):
        raise ValueError(f"merchant category code {qr.mcc!r} is not 4 digits")
    for label, value, limit in (
        ("name", qr.merchant_name, MAX_NAME_CHARS),
        ("city", qr.merchant_city, MAX_CITY_CHARS),
    ):
        if optional and not value:
            continue
        if len(value) > limit or not value.strip() or not value.isprintable():
            raise ValueError(f"merchant {label} must be 1–{limit} printable characters")
    if qr.amount_minor is not None:
        if qr.amount_minor <= 0:
            raise ValueError("amount must be positive")
        if len(format_amount(qr.amount_minor, qr.currency)) > MAX_AMOUNT_CHARS:
            raise ValueError(f"amount does not fit the {MAX_AMOUNT_CHARS} characters of field 54")
    if qr.point_of_initiation not in ("", POINT_OF_INITIATION_STATIC, POINT_OF_INITIATION_DYNAMIC):
        raise ValueError("point of initiation must be 11 (static), 12 (dynamic) or left out")
    if (
        qr.point_of_initiation == POINT_OF_INITIATION_DYNAMIC
        and qr.amount_minor is None
        and not qr.location
    ):
        raise ValueError("a dynamic payload (point of initiation 12) needs an amount")
    if len(qr.reference) > MAX_REFERENCE_CHARS:
        raise ValueError(f"reference must be at most {MAX_REFERENCE_CHARS} characters")
    if len(qr.terminal_label) > MAX_REFERENCE_CHARS:
        raise ValueError(f"terminal label must be at most {MAX_REFERENCE_CHARS} characters")
    if qr.profile != "paynow" and qr.expiry_date:
        raise ValueError("an expiry date is a PayNow field")
    if qr.profile != "pix" and qr.location:
        raise ValueError("a payload location is a PIX field")


def _validate_pix(qr: MerchantQR) -> None:
    if qr.location:
        if qr.merchant_id:
            raise ValueError("a PIX payload carries a key or a location, not both")
        if not _LOCATION.fullmatch(qr.location) or len(qr.location) > MAX_PIX_KEY_CHARS:
            raise ValueError("PIX location must be a URL without scheme, at most 77 characters")
    elif not is_pix_key(qr.merchant_id):
        raise ValueError(
            "PIX key must be a CPF, CNPJ, +55 phone number, e-mail or random key (UUID)"
        )
    if qr.reference and not (
        _ALNUM.fullmatch(qr.reference) and len(qr.reference) <= MAX_REFERENCE_CHARS
    ):
        raise ValueError("PIX txid must be 1–25 letters and digits (or empty for ***)")


def is_pix_key(key: str) -> bool:
    """One of the DICT key forms: CPF, CNPJ, +55 phone, e-mail, or a random key (EVP)."""
    if not key or len(key) > MAX_PIX_KEY_CHARS:
        return False
    if _DIGITS.fullmatch(key):
        return cpf.is_valid(key) if len(key) == 11 else len(key) == 14 and cnpj.is_valid(key)
    return bool(_BR_PHONE.fullmatch(key) or _UUID.fullmatch(key) or _EMAIL.fullmatch(key))


def _validate_paynow(qr: MerchantQR) -> None:
    if not uen.is_valid(qr.merchant_id) or qr.merchant_id != uen.compact(qr.merchant_id):
        raise ValueError(f"PayNow UEN {qr.merchant_id!r} is not a valid Singapore UEN")
    if qr.expiry_date and not _DATE.fullmatch(qr.expiry_date):
        raise ValueError("PayNow expiry date must be YYYYMMDD")


def _validate_promptpay(qr: MerchantQR) -> None:
    if _TH_MOBILE.fullmatch(qr.merchant_id):
        return
    if re.fullmatch(r"[0-9]{13}", qr.merchant_id) and tin.is_valid(qr.merchant_id):
        return
    raise ValueError(
        "PromptPay id must be a Thai mobile number (0 and 9 digits) or a 13-digit national or "
        "tax id"
    )


def _validate_generic(qr: MerchantQR) -> None:
    if not _GUI.fullmatch(qr.gui) or len(qr.gui) > MAX_GUI_CHARS:
        raise ValueError(f"GUI must be 1–{MAX_GUI_CHARS} letters, digits, '.', '-' or '_'")
    # template 26 = "00LL" + GUI + "01LL" + account id, at most 99 characters
    if not 1 <= len(qr.merchant_id) <= MAX_TEMPLATE_CHARS - 8 - len(qr.gui):
        raise ValueError("merchant account id does not fit template 26")
    if not qr.merchant_id.isprintable() or not qr.merchant_id.strip():
        raise ValueError("merchant account id must be printable text")
