"""Bank statement test helpers: the collection accounts, statement files, open bank transfers.

The sample files under tests/ledger/data/ follow the published camt.053.001.02 and MT940
layouts; their `${NAME}` placeholders take the account and the references of the payments a
test creates (references are random per payment). `camt053` builds a one-day statement of
given credits in the same layout, for the matching scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

import pytest

from payments import collection
from payments.services import Actor, NewPayment

DATA = Path(__file__).parent / "data"
TEST_IBAN = "DE89370400440532013000"
LIVE_IBAN = "GB29NWBK60161331926819"
UNKNOWN_IBAN = "FR1420041010050500013M02606"
COLLECTION_ACCOUNTS = {
    "test": {"iban": TEST_IBAN, "bic": "COBADEFFXXX", "name": "QR Payments Test Collections"},
    "live": {"iban": LIVE_IBAN, "bic": "NWBKGB2LXXX", "name": "QR Payments Collections"},
}


@pytest.fixture
def collection_accounts(settings):
    settings.COLLECTION_ACCOUNTS = COLLECTION_ACCOUNTS
    return COLLECTION_ACCOUNTS


def sample(name: str, **values: str) -> bytes:
    """A sample file of tests/ledger/data with its placeholders filled."""
    return Template((DATA / name).read_text()).substitute(values).encode()


def spaced(reference: str) -> str:
    """A reference as payers type it: lower case, in groups of four."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4)).lower()


@dataclass(frozen=True)
class Credit:
    amount: str  # as the bank prints it, "125.00"
    remittance: str = ""
    payer: str = "Jane Doe"
    bank_reference: str = ""
    booked: date = date(2026, 12, 7)


def camt053(*credits: Credit, iban: str = TEST_IBAN, statement_id: str = "STMT-X") -> bytes:
    """A camt.053.001.02 statement of the given credits (EUR), laid out as the sample file."""
    entries = "".join(_camt_entry(credit, number) for number, credit in enumerate(credits, 1))
    total = sum(Decimal(credit.amount) for credit in credits)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>{statement_id}-MSG</MsgId><CreDtTm>2026-12-07T18:30:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{statement_id}</Id>
      <CreDtTm>2026-12-07T18:30:00</CreDtTm>
      <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-07</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{total}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-07</Dt></Dt></Bal>
{entries}    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def _camt_entry(credit: Credit, number: int) -> str:
    reference = credit.bank_reference or f"BK{number:08d}"
    return f"""      <Ntry>
        <NtryRef>{number}</NtryRef>
        <Amt Ccy="EUR">{credit.amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{credit.booked}</Dt></BookgDt>
        <ValDt><Dt>{credit.booked}</Dt></ValDt>
        <AcctSvcrRef>{reference}</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
          <AmtDtls><TxAmt><Amt Ccy="EUR">{credit.amount}</Amt></TxAmt></AmtDtls>
          <RltdPties><Dbtr><Nm>{escape(credit.payer)}</Nm></Dbtr></RltdPties>
          <RmtInf><Ustrd>{escape(credit.remittance)}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
"""


def open_bank_transfer(merchant_id: str, amount_minor: int, *, livemode: bool = False):
    """A bank transfer payment waiting for the customer's money (requires_action)."""
    return collection.create_collection_payment(
        request=NewPayment(
            merchant_id=merchant_id,
            livemode=livemode,
            amount_minor=amount_minor,
            currency="EUR",
            capture=True,
            description="Order",
        ),
        method="bank_transfer",
        actor=Actor.system("tests"),
    )
