"""A word typed right after a payment reference can make a longer reference whose check digits
hold by chance (about one in 97): every valid reading is kept and the matcher tries each, so
such a credit still completes its payment. And the MT940 / camt.053 placeholders for "no
reference" (NONREF, NOTPROVIDED) never tell two entries apart: two credits that only share
one are both imported."""

from __future__ import annotations

import itertools

import pytest
from stdnum import iso11649

from ledger.statements import services
from ledger.statements.models import LineState, StatementLine
from ledger.statements.parsing import parse_statement
from ledger.statements.references import find_references
from payments.models import Payment
from tests.ledger.bank_files import (
    TEST_IBAN,
    Credit,
    camt053,
    collection_accounts,  # noqa: F401  a fixture
    open_bank_transfer,
    sample,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collection_accounts")]


def _word_that_also_validates(reference: str) -> str:
    """A word which, run together with the reference, spells another valid reference."""
    for number in itertools.count():
        word = f"ORDER{number}"
        if iso11649.is_valid(reference + word):
            return word
    raise AssertionError("unreachable")


def test_every_valid_reading_of_a_reference_is_kept_longest_first():
    reference = "RF42AU4JO150Q1Z7"
    assert iso11649.is_valid(reference)
    word = _word_that_also_validates(reference)

    found = find_references(f"Payment {reference} {word}")

    assert found.valid == (reference + word, reference)
    assert found.malformed == ()


def test_a_credit_whose_reference_is_followed_by_a_word_still_completes_its_payment(merchant):
    payment = open_bank_transfer(merchant.merchant.id, 4200)
    word = _word_that_also_validates(payment.reference)

    result = services.record_synthetic_credit(
        livemode=False,
        amount_minor=4200,
        currency="EUR",
        reference=f"{payment.reference} {word}",
        payer_name="Jane Doe",
    )

    assert result.matched == 1
    line = StatementLine.objects.get(statement_id=result.statement_id)
    assert (line.state, line.payment_id) == (LineState.MATCHED, payment.id)
    assert Payment.objects.get(pk=payment.id).status == "captured"


def test_credits_sharing_only_the_nonref_placeholder_are_both_imported():
    first = services.import_statement(
        data=camt053(Credit("10.00", "first", bank_reference="NONREF"), statement_id="S-1"),
        filename="1.xml",
        actor="tests",
    )
    second = services.import_statement(
        data=camt053(
            Credit("20.00", "second", payer="Max Mustermann", bank_reference="NONREF"),
            statement_id="S-2",
        ),
        filename="2.xml",
        actor="tests",
    )

    assert (first.credits, second.credits, second.duplicates) == (1, 1, 0)
    amounts = StatementLine.objects.order_by("id").values_list("amount_minor", flat=True)
    assert list(amounts) == [1000, 2000]
    assert set(StatementLine.objects.values_list("bank_reference", flat=True)) == {""}


def test_mt940_nonref_as_the_banks_reference_is_no_reference():
    data = sample("mt940_statement.sta", ACCOUNT_IBAN=TEST_IBAN, REFERENCE_A="", REFERENCE_B="")
    data = data.replace(b"NTRFNONREF//2026120700001", b"NTRFREF-1//NONREF")

    statement = parse_statement(data)

    assert [entry.bank_reference for entry in statement.entries] == [
        "",
        "2026120700002",
        "2026120700003",
    ]
