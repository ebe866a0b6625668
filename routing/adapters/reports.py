"""Provider settlement report files parsed into `SettlementLine`s: Stripe's itemized reports and
Adyen's Settlement details report. Both are CSV with amounts in the currency's major unit
("20.00", "1500" for JPY); lines come out in minor units, signed from our side (money the
provider owes us positive), with net = gross - fee on every line (see `SettlementLine`).

Anything the parser cannot read with certainty (a missing column, an amount with more decimals
than its currency has, a line type we do not know) raises `SettlementReportError` naming the
line: a report is never half-imported.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation

from routing.adapters import SettlementReportError
from routing.interface import SettlementLine

# ISO 4217 minor-unit exponents where they are not 2 (payments.currencies holds the currencies
# we accept; tests/routing/test_settlement_reports.py checks the two agree).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "BIF",
                          "DJF", "GNF", "KMF", "MGA", "RWF", "VUV", "XPF"})  # fmt: skip
THREE_DECIMAL = frozenset({"KWD", "BHD", "JOD", "OMR", "TND", "IQD", "LYD"})

# Stripe's reporting_category → our line type (docs.stripe.com/reports/reporting-categories).
STRIPE_CATEGORIES = {
    "charge": "capture",
    "charge_failure": "capture",  # a charge that failed after it was booked: negative gross
    "partial_capture_reversal": "capture",  # the uncaptured part of an authorization released
    "refund": "refund",
    "refund_failure": "refund",  # a refund the bank returned: positive gross
    "dispute": "chargeback",
    "dispute_reversal": "chargeback_reversal",
    "fee": "fee",
    "tax": "fee",  # tax on Stripe's fees
    "other_adjustment": "fee",  # a balance change Stripe made outside any payment
    "payout": "payout",
    "payout_reversal": "payout",  # a payout the bank returned: positive
}
STRIPE_REQUIRED = ("balance_transaction_id", "created_utc", "currency", "gross", "fee", "net",
                   "reporting_category")  # fmt: skip
# Our references travel in the PaymentIntent's and the Refund's metadata[reference].
STRIPE_PAYMENT_REFERENCE = "payment_metadata[reference]"
STRIPE_REFUND_REFERENCE = "refund_metadata[reference]"
STRIPE_COLUMNS = (
    "automatic_payout_id", "automatic_payout_effective_at_utc", "balance_transaction_id",
    "created_utc", "available_on_utc", "currency", "gross", "fee", "net", "reporting_category",
    "source_id", "description", "charge_id", "payment_intent_id", STRIPE_PAYMENT_REFERENCE,
    STRIPE_REFUND_REFERENCE,
)  # fmt: skip

# Adyen's journal types (Settlement details report, "Type") → our line type.
ADYEN_TYPES = {
    "Settled": "capture",
    "SettledBulk": "capture",
    "Refunded": "refund",
    "RefundedBulk": "refund",
    "RefundedReversed": "refund",  # a refund returned by the bank: credit
    "Chargeback": "chargeback",
    "SecondChargeback": "chargeback",
    "ChargebackReversed": "chargeback_reversal",
    "Fee": "fee",
    "MiscCosts": "fee",
    "PaymentCost": "fee",
    "AuthorisationSchemeFee": "fee",
    "InvoiceDeduction": "fee",
    "MerchantPayout": "payout",
    "BankInstructionReturned": "payout",  # a payout returned to Adyen: credit
}
ADYEN_REQUIRED = ("Merchant Account", "Psp Reference", "Merchant Reference", "Creation Date",
                  "Type", "Gross Currency", "Gross Debit (GC)", "Gross Credit (GC)",
                  "Net Currency", "Net Debit (NC)", "Net Credit (NC)", "Batch Number")  # fmt: skip
ADYEN_TRANSFER = re.compile(r"^TX\w+XT$")  # Adyen's reference on a payout's bank transfer
ADYEN_FEE_COLUMNS = ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)")


def exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def to_minor(amount: str, currency: str) -> int:
    """ "20.00" EUR → 2000; "" → 0. More decimals than the currency has is an error, never
    rounded: a report we would have to round is not one we understand."""
    text = amount.strip().replace(",", "")
    if not text:
        return 0
    try:
        value = Decimal(text) * 10 ** exponent(currency)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount") from None
    if value != value.to_integral_value():
        raise ValueError(f"{amount!r} has more decimals than {currency.upper()} has")
    return int(value)


def read_rows(raw: bytes, filename: str, required: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """The CSV's rows as dicts; the header must name every `required` column."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SettlementReportError(f"{filename}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in required if name not in (reader.fieldnames or [])]
    if missing:
        raise SettlementReportError(f"{filename}: missing column(s) {', '.join(missing)}")
    for row in reader:
        if any((value or "").strip() for value in row.values() if isinstance(value, str)):
            yield {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}


def parse_rows(
    raw: bytes,
    filename: str,
    required: tuple[str, ...],
    parse_row: Callable[[dict[str, str]], SettlementLine],
) -> list[SettlementLine]:
    lines: list[SettlementLine] = []
    for number, row in enumerate(read_rows(raw, filename, required), start=2):
        try:
            lines.append(parse_row(row))
        except (KeyError, ValueError) as exc:
            raise SettlementReportError(f"{filename} line {number}: {exc}") from None
    return lines


# -- Stripe ------------------------------------------------------------------------------------


def parse_stripe_report(raw: bytes, filename: str) -> tuple[SettlementLine, ...]:
    """Stripe's itemized payout reconciliation report (payout_reconciliation.itemized.5) or
    balance change report (balance_change_from_activity.itemized.3), with at least the
    STRIPE_REQUIRED columns; our references are read from `payment_metadata[reference]` and
    `refund_metadata[reference]` when the report carries them.

    The payout reconciliation report lists the transactions of each automatic payout but no
    line for the payout itself, so one `payout` line per `automatic_payout_id` is added (net =
    minus the sum of its transactions' nets, which is what an automatic payout pays); a report
    that carries the payout's own balance transaction (category `payout`) is taken as is."""
    lines = parse_rows(raw, filename, STRIPE_REQUIRED, _stripe_line)
    try:
        paid_on = {
            row.get("automatic_payout_id", ""): _day(row["automatic_payout_effective_at_utc"])
            for row in read_rows(raw, filename, STRIPE_REQUIRED)
            if row.get("automatic_payout_effective_at_utc")
        }
    except ValueError as exc:
        raise SettlementReportError(f"{filename}: {exc}") from None
    reported = {line.provider_reference for line in lines if line.type == "payout"}
    totals: dict[tuple[str, str], tuple[int, str]] = {}
    for line in lines:
        if line.type != "payout" and line.payout_reference not in ("", *reported):
            key = (line.payout_reference, line.currency)
            net, last = totals.get(key, (0, line.date))
            totals[key] = (net + line.net_minor, max(last, line.date))
    payouts = [
        SettlementLine(
            "payout", "", payout, -net, 0, -net, currency, paid_on.get(payout, last), payout
        )
        for (payout, currency), (net, last) in totals.items()
    ]
    return (*lines, *payouts)


def _stripe_line(row: dict[str, str]) -> SettlementLine:
    category = row["reporting_category"]
    kind = STRIPE_CATEGORIES.get(category)
    if kind is None:
        raise ValueError(f"unknown reporting_category {category!r}")
    currency = row["currency"].upper()
    gross, fee, net = (to_minor(row[name], currency) for name in ("gross", "fee", "net"))
    if kind == "fee" and fee == 0:
        gross, fee = 0, -gross  # a fee's own transaction: its amount is the fee
    if net != gross - fee:
        raise ValueError(f"net {row['net']} is not gross - fee")
    source = row.get("source_id", "")
    payout = row.get("automatic_payout_id", "")
    if kind == "payout":
        reference, provider_reference, payout = "", source, source
    elif kind == "refund":
        reference = row.get(STRIPE_REFUND_REFERENCE, "")
        provider_reference = source
    elif kind == "fee":
        reference, provider_reference = "", source or row["balance_transaction_id"]
    elif kind == "capture":
        reference = row.get(STRIPE_PAYMENT_REFERENCE, "")
        provider_reference = row.get("payment_intent_id") or row.get("charge_id") or source
    else:  # a dispute: our attempt, and the dispute's id
        reference = row.get(STRIPE_PAYMENT_REFERENCE, "")
        provider_reference = source
    return SettlementLine(
        type=kind,
        reference=reference,
        provider_reference=provider_reference,
        gross_minor=gross,
        fee_minor=fee,
        net_minor=net,
        currency=currency,
        date=_day(row["created_utc"]),
        payout_reference=payout,
    )


# -- Adyen -------------------------------------------------------------------------------------


def parse_adyen_report(raw: bytes, filename: str) -> tuple[SettlementLine, ...]:
    """Adyen's Settlement details report (one payable batch): Gross columns in the payment's
    currency (GC), Net columns in the settlement currency (NC). Every line is in the net
    currency; the fee is what the batch kept (gross - net, which the Commission, Markup, Scheme
    Fees and Interchange columns break down).

    The batch is what Adyen pays out in one bank transfer, so every line of a batch gets the
    same `payout_reference`: the transfer reference of the batch's `MerchantPayout` line (its
    Modification Reference reads "TX4711XT batch 7, QRPaymentsEUR"; "TX4711XT" is what the
    bank statement carries), or "batch N" when the report has no payout line."""
    lines = parse_rows(raw, filename, ADYEN_REQUIRED, _adyen_line)  # payout_reference: batch
    transfers = {
        line.payout_reference: _transfer_reference(line.provider_reference)
        for line in lines
        if line.type == "payout"
    }
    return tuple(
        dataclasses.replace(
            line,
            payout_reference=transfers.get(line.payout_reference)
            or f"batch {line.payout_reference}",
        )
        for line in lines
    )


def _transfer_reference(text: str) -> str:
    first = text.split()[0] if text.split() else ""
    return first.rstrip(",") if ADYEN_TRANSFER.match(first.rstrip(",")) else text


def _adyen_line(row: dict[str, str]) -> SettlementLine:
    journal = row["Type"]
    kind = ADYEN_TYPES.get(journal)
    if kind is None:
        raise ValueError(f"unknown journal type {journal!r}")
    currency = row["Net Currency"].upper()
    net = to_minor(row["Net Credit (NC)"], currency) - to_minor(row["Net Debit (NC)"], currency)
    if kind == "fee":
        gross = 0
    elif kind == "payout":
        gross = net
    elif row["Gross Currency"].upper() == currency:
        gross_currency = row["Gross Currency"]
        gross = to_minor(row["Gross Credit (GC)"], gross_currency) - to_minor(
            row["Gross Debit (GC)"], gross_currency
        )
    else:  # converted: the fee columns are in the net currency
        fees = sum(to_minor(row.get(name, ""), currency) for name in ADYEN_FEE_COLUMNS)
        gross = net + fees
    batch = row["Batch Number"]
    if kind == "refund":
        reference = row.get("Modification Merchant Reference") or row["Merchant Reference"]
        provider_reference = row.get("Modification Reference") or row["Psp Reference"]
    elif kind in ("chargeback", "chargeback_reversal"):
        reference = row["Merchant Reference"]
        provider_reference = row.get("Modification Reference") or row["Psp Reference"]
    elif kind == "capture":
        reference, provider_reference = row["Merchant Reference"], row["Psp Reference"]
    else:  # fees and payouts belong to the batch, not to a payment
        # A payout's Modification Reference is the text of Adyen's bank transfer
        # ("TX… batch 4, Merchant"); a fee's names the fee ("Transaction Fees").
        reference = ""
        provider_reference = row.get("Modification Reference") or batch
    return SettlementLine(
        type=kind,
        reference=reference,
        provider_reference=provider_reference,
        gross_minor=gross,
        fee_minor=gross - net,
        net_minor=net,
        currency=currency,
        date=_day(row["Creation Date"]),
        payout_reference=batch,
    )


def _day(timestamp: str) -> str:
    """ "2026-11-26 08:15:00" (or a bare date) → "2026-11-26"."""
    return dt.date.fromisoformat(timestamp.strip()[:10]).isoformat()
