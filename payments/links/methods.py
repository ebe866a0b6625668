"""The payment methods a link offers: "card", "bank_transfer" and "qr:<scheme>".

A QR method names its scheme ("qr:pix"); plain "qr" means the scheme made for the link's
currency (pix for BRL, paynow for SGD, promptpay for THB, upi for INR). A bank transfer is a
SEPA credit transfer, so EUR only, and needs the mode's collection account; a QR scheme needs
the mode's scheme account (settings COLLECTION_ACCOUNTS, QR_SCHEME_ACCOUNTS).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from core.errors import InvalidRequest
from payments.qr.schemes import SCHEME_CURRENCIES, SCHEMES

CARD = "card"
BANK_TRANSFER = "bank_transfer"
QR_PREFIX = "qr:"
MAX_METHODS = 8


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _bank_transfer_available(*, currency: str, livemode: bool) -> bool:
    account = settings.COLLECTION_ACCOUNTS.get(_mode(livemode)) or {}
    return currency == "EUR" and bool(account.get("iban"))


def _scheme_available(*, scheme: str, currency: str, livemode: bool) -> bool:
    currencies = SCHEME_CURRENCIES.get(scheme)
    if scheme not in SCHEMES or (currencies is not None and currency not in currencies):
        return False
    return bool(settings.QR_SCHEME_ACCOUNTS.get(_mode(livemode), {}).get(scheme))


def currency_scheme(currency: str) -> str | None:
    """The QR scheme made for `currency` (not the generic EMVCo one), if there is one."""
    return next(
        (
            scheme
            for scheme in SCHEMES
            if SCHEME_CURRENCIES.get(scheme) and currency in SCHEME_CURRENCIES[scheme]
        ),
        None,
    )


def default_methods(*, currency: str, livemode: bool) -> list[str]:
    """Card; a bank transfer for EUR; the currency's own QR scheme when it has one."""
    methods = [CARD]
    if _bank_transfer_available(currency=currency, livemode=livemode):
        methods.append(BANK_TRANSFER)
    scheme = currency_scheme(currency)
    if scheme and _scheme_available(scheme=scheme, currency=currency, livemode=livemode):
        methods.append(QR_PREFIX + scheme)
    return methods


def validate_methods(*, methods: Iterable[str], currency: str, livemode: bool) -> list[str]:
    """The methods as stored (plain "qr" resolved, duplicates dropped, order kept); raises
    InvalidRequest(param="methods") naming the first one the currency or mode cannot offer."""
    resolved: list[str] = []
    for method in methods:
        method = _resolve(method, currency=currency)
        if method == CARD:
            pass
        elif method == BANK_TRANSFER:
            if currency != "EUR":
                raise _unavailable(method, currency, "bank transfers collect EUR only")
            if not _bank_transfer_available(currency=currency, livemode=livemode):
                raise _unavailable(method, currency, "no collection account in this mode")
        elif method.startswith(QR_PREFIX):
            scheme = method.removeprefix(QR_PREFIX)
            if scheme not in SCHEMES:
                raise InvalidRequest(
                    f"Unknown QR scheme: {scheme!r} (one of {', '.join(SCHEMES)}).",
                    code="parameter_invalid",
                    param="methods",
                )
            currencies = SCHEME_CURRENCIES.get(scheme)
            if currencies is not None and currency not in currencies:
                raise _unavailable(method, currency, f"{scheme} does not collect {currency}")
            if not _scheme_available(scheme=scheme, currency=currency, livemode=livemode):
                raise _unavailable(method, currency, f"no {scheme} account in this mode")
        else:
            raise InvalidRequest(
                f"Unknown payment method: {method!r} (card, bank_transfer or qr:<scheme>).",
                code="parameter_invalid",
                param="methods",
            )
        if method not in resolved:
            resolved.append(method)
    if not resolved:
        raise InvalidRequest(
            "methods needs at least one payment method.", code="parameter_invalid", param="methods"
        )
    return resolved


def _resolve(method: str, *, currency: str) -> str:
    if method != "qr":
        return method
    scheme = currency_scheme(currency)
    if scheme is None:
        raise InvalidRequest(
            f"No QR scheme is made for {currency}; name one, for example qr:emvco.",
            code="payment_method_unsupported",
            param="methods",
        )
    return QR_PREFIX + scheme


def _unavailable(method: str, currency: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"{method} is not available for {currency} payments: {why}.",
        code="payment_method_unsupported",
        param="methods",
    )
