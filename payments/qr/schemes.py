"""The one way the platform asks for a QR payload: a scheme, the merchant's scheme account, the
amount and the payment reference in; the text to put in the QR code out.

`scheme_payload` covers the EMVCo schemes (generic, PIX, PayNow, PromptPay) and UPI;
`epc_payload` the SEPA credit transfer (EPC069-12) that a bank-transfer payment shows. Both
raise ValueError on input the scheme refuses, with a message naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from payments.qr import emvco, epc, upi

SCHEMES: tuple[str, ...] = ("emvco", "pix", "paynow", "promptpay", "upi")

SCHEME_CURRENCIES: dict[str, frozenset[str] | None] = {
    "emvco": None,  # any currency with an ISO 4217 numeric code the platform supports
    "pix": frozenset({"BRL"}),
    "paynow": frozenset({"SGD"}),
    "promptpay": frozenset({"THB"}),
    "upi": frozenset({"INR"}),
}

_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")


@dataclass(frozen=True)
class SchemeAccount:
    """The merchant's identity in one scheme: PIX key / PayNow UEN / PromptPay ID / UPI VPA /
    generic EMVCo account id. `country` (ISO 3166-1 alpha-2) only matters to the generic EMVCo
    scheme; left empty, it is taken from the currency code (USD -> US, EUR -> EU)."""

    merchant_id: str
    merchant_name: str
    merchant_city: str
    mcc: str = "0000"
    country: str = ""


def scheme_payload(
    *, scheme: str, account: SchemeAccount, amount_minor: int, currency: str, reference: str
) -> str:
    """The QR text for one payment of `amount_minor` in `currency` under `scheme`.

    The reference goes where each scheme carries it: the PIX txid (letters and digits only, so
    separators are dropped: "QR-12AB" becomes "QR12AB"), the PayNow bill number, the EMVCo
    reference label, the UPI transaction reference. ValueError on an unknown scheme, a currency
    the scheme does not take, or a field it refuses.
    """
    currency = currency.upper()
    check_scheme_currency(scheme=scheme, currency=currency)
    if amount_minor <= 0:
        raise ValueError("amount_minor must be positive")
    if scheme == "upi":
        return upi.build_upi(
            vpa=account.merchant_id,
            payee_name=account.merchant_name,
            amount_minor=amount_minor,
            reference=reference,
            mcc="" if account.mcc == "0000" else account.mcc,
        )
    if scheme == "pix":
        reference = _NOT_ALPHANUMERIC.sub("", reference)
    return emvco.build_merchant_qr(
        profile=scheme,
        merchant_id=account.merchant_id,
        merchant_name=account.merchant_name,
        merchant_city=account.merchant_city,
        currency=currency,
        amount_minor=amount_minor,
        reference=reference,
        mcc=account.mcc,
        country=_country(scheme=scheme, account=account, currency=currency),
    )


def epc_payload(
    *, bic: str, name: str, iban: str, amount_minor: int, currency: str, reference: str
) -> str:
    """The EPC069-12 payload (version 002, UTF-8) for a SEPA credit transfer of `amount_minor`
    euro cents. A reference starting with RF goes in as a structured ISO 11649 creditor
    reference (checked), anything else as the unstructured remittance text. ValueError when the
    currency is not EUR, the IBAN or BIC is invalid, or a field is too long."""
    if currency.upper() != "EUR":
        raise ValueError(f"currency {currency.upper()} is not accepted by SEPA (EPC QR): EUR only")
    if amount_minor <= 0:
        raise ValueError("amount_minor must be positive")
    structured = reference[:2].upper() == "RF"
    return epc.build_epc(
        bic=bic,
        name=name,
        iban=iban,
        amount_minor=amount_minor,
        reference=reference if structured else "",
        text="" if structured else reference,
    )


def check_scheme_currency(*, scheme: str, currency: str) -> None:
    """ValueError unless `scheme` is known and takes `currency`."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown QR scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    accepted = SCHEME_CURRENCIES[scheme]
    currency = currency.upper()
    if accepted is None:
        if currency not in emvco.NUMERIC_CURRENCY:
            raise ValueError(f"currency {currency} is not accepted by scheme {scheme}")
        return
    if currency not in accepted:
        raise ValueError(
            f"currency {currency} is not accepted by scheme {scheme} "
            f"(it takes {', '.join(sorted(accepted))})"
        )


def _country(*, scheme: str, account: SchemeAccount, currency: str) -> str:
    if scheme != "emvco":
        return ""  # the profile sets it
    if account.country:
        return account.country
    if currency.startswith("X"):
        raise ValueError(f"set SchemeAccount.country: {currency} is not one country's currency")
    return currency[:2]
