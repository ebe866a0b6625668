"""ledger.statements: camt.053 and MT940 statement files read into plain dataclasses.

The maintained parsers do the format work (pycamt's `Camt053Parser`, mt-940's `Transactions`);
this module turns what they return into `ParsedStatement`/`ParsedEntry`: amounts as integers in
minor units through Decimal (never float), credit or debit, the payer and the remittance text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import mt940
from lxml import etree
from mt940.models import Transactions
from pycamt.parser import Camt053ParseError, Camt053Parser
from stdnum import iban as iban_number

from ledger.errors import LedgerInvalidPosting

FORMATS = ("camt053", "mt940")

# ISO 4217 exponents that are not 2 (bank statements show amounts in major units).
_EXPONENTS = {
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XOF": 0, "XAF": 0,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip
# SWIFT-style codes some banks put in MT940 :86: ("/NAME/Jane Doe/REMI/USTD//RF18…/").
_SLASH_CODES = re.compile(r"/(NAME|REMI|EREF|IBAN|ORDP|BENM|CDTRREFTP|CDTRREF)/", re.IGNORECASE)


class StatementFormatError(LedgerInvalidPosting):
    code = "bank_statement_unreadable"


@dataclass(frozen=True)
class ParsedEntry:
    credit: bool  # money in; a reversal or a debit is money out
    amount_minor: int
    currency: str
    booking_date: date | None
    value_date: date | None
    bank_reference: str  # the bank's own reference for the entry, when it gives one
    end_to_end_id: str
    payer_name: str
    payer_iban: str
    remittance: str
    booked: bool  # camt.053 "BOOK" (MT940 statements carry booked entries only)


@dataclass(frozen=True)
class ParsedStatement:
    format: str
    statement_id: str  # camt.053 Stmt/Id or MsgId, MT940 :20:
    account_iban: str
    currency: str
    entries: tuple[ParsedEntry, ...]


def detect_format(data: bytes) -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "camt053"
    if re.search(rb"^:20:", head, re.MULTILINE) or b":61:" in head or b"{1:" in head:
        return "mt940"
    raise StatementFormatError("Not a camt.053 XML or MT940 statement file.", param="file")


def parse_statement(data: bytes, *, format: str | None = None) -> ParsedStatement:
    format = format or detect_format(data)
    if format == "camt053":
        return _parse_camt053(data)
    if format == "mt940":
        return _parse_mt940(data)
    raise StatementFormatError(f"Unknown statement format {format!r}.", param="format")


def to_minor(amount: Decimal | str, currency: str) -> int:
    try:
        value = abs(Decimal(str(amount).replace(",", ".")))
    except InvalidOperation as exc:
        raise StatementFormatError(f"Unreadable amount {amount!r}.", param="file") from exc
    scaled = value.scaleb(_EXPONENTS.get(currency.upper(), 2))
    if scaled != scaled.to_integral_value():
        raise StatementFormatError(
            f"Amount {amount} has more decimals than {currency} allows.", param="file"
        )
    return int(scaled)


def compact_iban(value: str) -> str:
    return iban_number.compact(value or "")


# --- camt.053 -----------------------------------------------------------------------------------


def _parse_camt053(data: bytes) -> ParsedStatement:
    try:
        parser = Camt053Parser(data)
        header = parser.get_group_header()
        infos = parser.get_statement_info()
        transactions = parser.get_transactions()
    except (etree.XMLSyntaxError, Camt053ParseError, AttributeError) as exc:
        raise StatementFormatError(f"Unreadable camt.053 file: {exc}", param="file") from exc
    if not parser.version.startswith("camt.053"):
        raise StatementFormatError("Not a camt.053 statement.", param="file")
    accounts = {compact_iban(info["IBAN"] or "") for info in infos}
    if len(accounts) != 1 or "" in accounts:
        raise StatementFormatError(
            "A statement file must be for exactly one account (by IBAN).", param="file"
        )
    statement_ids = parser.tree.findall(".//Stmt/Id", parser.namespaces)
    statement_id = statement_ids[0].text if statement_ids else header.get("MessageID", "")
    return ParsedStatement(
        format="camt053",
        statement_id=statement_id or "",
        account_iban=accounts.pop(),
        currency=(infos[0].get("Currency") or "").upper(),
        entries=tuple(
            _camt_entry(row, amount)
            for row, amount in zip(transactions, _camt_amounts(parser), strict=True)
        ),
    )


def _camt_amounts(parser: Camt053Parser) -> list[tuple[str, str]]:
    """(amount, currency) of each row `get_transactions` returns, in its order: the entry's
    own amount (what moved on our account) unless the entry batches several transactions,
    then each transaction's amount in the account's currency. pycamt's own "Amount" of a
    transaction is its first Amt, in camt.053.001.02 the instructed amount (another currency
    for a transfer with FX)."""
    ns = parser.namespaces
    statements = parser.tree.findall(".//Stmt", ns) or parser.tree.findall(".//Rpt", ns)
    amounts = []
    for statement in statements:
        for entry in statement.findall(".//Ntry", ns):
            details = entry.findall(".//NtryDtls//TxDtls", ns)
            if len(details) <= 1:
                amounts.append(_amount_of(entry.find("Amt", ns)))
                continue
            for detail in details:
                own = detail.find("Amt", ns)  # camt.053.001.04 and later
                amounts.append(
                    _amount_of(own if own is not None else detail.find("AmtDtls/TxAmt/Amt", ns))
                )
    return amounts


def _amount_of(element: Any) -> tuple[str, str]:
    if element is None or not element.text or len(element.get("Ccy", "")) != 3:
        raise StatementFormatError("A camt.053 entry has no amount or currency.", param="file")
    return element.text.strip(), element.get("Ccy").upper()


def _camt_entry(row: dict[str, Any], amount: tuple[str, str]) -> ParsedEntry:
    value, currency = amount
    reversal = (row.get("ReversalIndicator") or "").lower() == "true"
    credit = (row.get("CreditDebitIndicator") == "CRDT") != reversal
    unstructured = row.get("RemittanceInformationFull") or ""
    # pycamt puts a structured creditor reference (Strd/CdtrRefInf/Ref) in RemittanceInformation.
    structured = row.get("RemittanceInformation") or ""
    parts = (
        "" if structured in unstructured else structured,
        unstructured,
        row.get("AdditionalRemittanceInformation") or "",
        row.get("AdditionalEntryInformation") or "",
    )
    remittance = " ".join(part for part in parts if part)
    return ParsedEntry(
        credit=credit,
        amount_minor=to_minor(value, currency),
        currency=currency,
        booking_date=_iso_date(row.get("BookingDate")),
        value_date=_iso_date(row.get("ValueDate")),
        bank_reference=_not_provided(row.get("TransactionID")),
        end_to_end_id=_not_provided(row.get("EndToEndId")),
        payer_name=(row.get("DebtorName") or "").strip() if credit else "",
        payer_iban=compact_iban(row.get("DebtorIBAN") or "") if credit else "",
        remittance=remittance.strip(),
        booked=(row.get("Status") or "BOOK").upper() == "BOOK",
    )


def _iso_date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _not_provided(value: str | None) -> str:
    """The value, or "" for the placeholders banks write when there is none (camt.053
    NOTPROVIDED, MT940 NONREF): never a reference that tells two entries apart."""
    value = (value or "").strip()
    return "" if value.upper() in ("NOTPROVIDED", "NONREF") else value


# --- MT940 --------------------------------------------------------------------------------------


def _parse_mt940(data: bytes) -> ParsedStatement:
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    # Transactions.parse takes the text itself (mt940.parse would read a path that exists).
    transactions = Transactions(options=mt940.Options.all())
    try:
        transactions.parse(text)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise StatementFormatError(f"Unreadable MT940 file: {exc}", param="file") from exc
    account = transactions.data.get("account_identification") or ""
    # :25: is "IBAN" or "BIC/IBAN" (or a national account number we cannot match).
    account_iban = compact_iban(account.split("/")[-1])
    if not account_iban or not transactions.data.get("transaction_reference"):
        raise StatementFormatError("Not an MT940 statement (no :20: or :25:).", param="file")
    currency = (transactions.currency or "").upper()
    return ParsedStatement(
        format="mt940",
        statement_id=transactions.data.get("transaction_reference", ""),
        account_iban=account_iban,
        currency=currency,
        entries=tuple(_mt940_entry(t.data, currency) for t in transactions),
    )


def _mt940_entry(row: dict[str, Any], statement_currency: str) -> ParsedEntry:
    amount = row["amount"]
    currency = (amount.currency or statement_currency).upper()
    status = (row.get("status") or "").upper()
    credit = status in ("C", "RD")
    details = row.get("transaction_details") or ""
    codes = _slash_codes(details)
    if codes:
        payer = codes.get("NAME", "")
        remittance = " ".join(v for k, v in codes.items() if k in ("REMI", "CDTRREF"))
    else:  # structured German :86: (parsed by mt-940) or free text
        payer = row.get("applicant_name") or ""
        remittance = row.get("purpose") or details
    bank_reference = _not_provided(row.get("bank_reference"))
    customer_reference = _not_provided(row.get("customer_reference"))
    return ParsedEntry(
        credit=credit,
        amount_minor=to_minor(amount.amount, currency),
        currency=currency,
        booking_date=_plain_date(row.get("entry_date") or row.get("date")),
        value_date=_plain_date(row.get("date")),
        bank_reference=bank_reference,
        end_to_end_id=_not_provided(codes.get("EREF")) or customer_reference,
        payer_name=payer.strip() if credit else "",
        payer_iban=compact_iban(codes.get("IBAN", "") or row.get("applicant_iban") or "")
        if credit
        else "",
        remittance=" ".join(remittance.split()),
        booked=True,
    )


def _plain_date(value: date | None) -> date | None:
    return date(value.year, value.month, value.day) if value else None


def _slash_codes(details: str) -> dict[str, str]:
    """The "/CODE/value" fields of an :86: line, values stripped of their sub-field slashes."""
    parts = _SLASH_CODES.split(details)
    if len(parts) < 3:
        return {}
    codes: dict[str, str] = {}
    for code, value in zip(parts[1::2], parts[2::2], strict=True):
        words = value.replace("/", " ").split()
        if code.upper() == "REMI":  # drop the USTD/STRD (and CUR) sub-codes before the text
            while words and words[0].upper() in ("USTD", "STRD", "CUR", "ISO", "SCOR"):
                words.pop(0)
        codes[code.upper()] = " ".join(words)
    return codes
