"""Bank statements read into entries: camt.053 and MT940, amounts in minor units, RF references."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.statements.parsing import (
    StatementFormatError,
    detect_format,
    parse_statement,
    to_minor,
)
from ledger.statements.references import find_references
from tests.ledger.bank_files import DATA, TEST_IBAN, sample, spaced

REF_A = "RF18539007547034"
REF_B = "RF75PAY0001"


def _filled(name: str) -> bytes:
    return sample(name, ACCOUNT_IBAN=TEST_IBAN, REFERENCE_A=spaced(REF_A), REFERENCE_B=REF_B)


@pytest.mark.parametrize("name", ["camt053_statement.xml", "mt940_statement.sta"])
def test_both_formats_read_the_same_day(name):
    statement = parse_statement(_filled(name))

    assert statement.account_iban == TEST_IBAN
    assert statement.currency == "EUR"
    credits = [e for e in statement.entries if e.credit]
    debits = [e for e in statement.entries if not e.credit]
    assert [(e.amount_minor, e.payer_name, e.bank_reference) for e in credits] == [
        (12500, "Jane Doe", "2026120700001"),
        (4990, "Max Mustermann", "2026120700002"),
    ]
    assert [(e.amount_minor, e.bank_reference) for e in debits] == [(250, "2026120700003")]
    assert all(e.booking_date == date(2026, 12, 7) and e.booked for e in statement.entries)
    assert "Order 1042" in credits[0].remittance
    assert find_references(credits[0].remittance).valid == (REF_A,)
    assert find_references(credits[1].remittance).valid == (REF_B,)


def test_the_format_is_detected_from_the_content():
    assert detect_format(_filled("camt053_statement.xml")) == "camt053"
    assert detect_format(_filled("mt940_statement.sta")) == "mt940"
    assert parse_statement(_filled("camt053_statement.xml")).format == "camt053"
    assert parse_statement(_filled("mt940_statement.sta")).format == "mt940"


def test_a_file_that_is_no_statement_is_refused():
    with pytest.raises(StatementFormatError):
        parse_statement(b"Date;Amount\n2026-12-07;10.00\n")
    with pytest.raises(StatementFormatError):
        parse_statement(b"<Document><Broken>")


def test_a_camt_file_forced_as_mt940_is_refused():
    with pytest.raises(StatementFormatError):
        parse_statement(_filled("camt053_statement.xml"), format="mt940")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("125.00", "EUR", 12500), ("0,10", "EUR", 10), ("1500", "JPY", 1500), ("1.250", "KWD", 1250)],
)
def test_amounts_become_minor_units_exactly(amount, currency, minor):
    assert to_minor(amount, currency) == minor


def test_an_amount_finer_than_the_currency_is_refused():
    with pytest.raises(StatementFormatError):
        to_minor("10.005", "EUR")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("RF18 5390 0754 7034", ("RF18539007547034",)),
        ("order rf18539007547034 thanks", ("RF18539007547034",)),
        ("RF18 5390 0754 7034 Jane Doe", ("RF18539007547034",)),
        ("RF75PAY0001 and rf48 pay0 002", ("RF75PAY0001", "RF48PAY0002")),
        ("Invoice 2026-1042", ()),
        ("XRF18539007547034", ()),
    ],
)
def test_references_are_found_in_what_payers_type(text, valid):
    assert find_references(text).valid == valid


def test_a_reference_whose_check_digits_fail_is_reported_as_mistyped():
    found = find_references("Invoice RF18 5390 0754 7043 thanks")
    assert found.valid == ()
    assert found.malformed == ("RF18539007547043",)


def test_a_batch_entry_gives_each_transfer_and_a_foreign_transfer_its_credited_amount():
    statement = parse_statement((DATA / "camt053_batch.xml").read_bytes())

    assert [
        (e.amount_minor, e.currency, e.bank_reference, e.payer_name) for e in statement.entries
    ] == [
        (1000, "EUR", "2026120800001", "First Payer"),
        (2000, "EUR", "2026120800001", "Second Payer"),
        (9235, "EUR", "2026120800002", "US Customer Inc"),
    ]
