"""Importing bank statements: credits matched by reference complete and book their payments;
the same file or an overlapping statement never books twice; the mode follows the account."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from ledger import selectors
from ledger.statements import hooks, services
from ledger.statements.models import (
    BankStatement,
    LineState,
    ManualDecision,
    StatementLine,
)
from payments.models import Payment
from tests.ledger.bank_files import (
    DATA,
    LIVE_IBAN,
    TEST_IBAN,
    UNKNOWN_IBAN,
    Credit,
    camt053,
    collection_accounts,  # noqa: F401  a fixture
    open_bank_transfer,
    sample,
    spaced,
)

pytestmark = pytest.mark.usefixtures("collection_accounts")


@pytest.fixture
def day(merchant):
    """Two open bank transfers (125.00 and 49.90 EUR) and the day's statement paying both."""
    a = open_bank_transfer(merchant.merchant.id, 12500)
    b = open_bank_transfer(merchant.merchant.id, 4990)
    values = dict(ACCOUNT_IBAN=TEST_IBAN, REFERENCE_A=spaced(a.reference), REFERENCE_B=b.reference)
    return a, b, values


def _import(data: bytes, name: str = "statement.xml") -> services.ImportResult:
    return services.import_statement(data=data, filename=name, actor="tests")


def _bank_entries(payment_id: str) -> list[tuple]:
    return [
        (row.account_kind, row.account_owner, row.debit_minor, row.credit_minor, row.currency)
        for row in selectors.payment_entries(payment_id=payment_id)
    ]


def _status(payment_id: str) -> str:
    return Payment.objects.get(pk=payment_id).status


@pytest.mark.parametrize("name", ["camt053_statement.xml", "mt940_statement.sta"])
def test_credits_with_their_reference_complete_and_book_their_payments(day, merchant, name):
    a, b, values = day

    result = _import(sample(name, **values), name)

    assert (result.created, result.credits, result.matched, result.queued, result.held) == (
        True, 2, 2, 0, 0,
    )  # fmt: skip
    assert result.debits == 1
    assert _status(a.id) == _status(b.id) == "captured"
    owner = f"merchant:{merchant.merchant.id}"
    assert _bank_entries(a.id) == [
        ("bank", f"bank:{TEST_IBAN}", 12500, 0, "EUR"),
        ("merchant_payable", owner, 0, 12500, "EUR"),
    ]
    assert selectors.payment_summary(payment_id=a.id).balanced
    assert selectors.payment_summary(payment_id=b.id).balanced
    lines = StatementLine.objects.filter(statement_id=result.statement_id).order_by("id")
    assert [(line.state, line.payment_id) for line in lines] == [
        (LineState.MATCHED, a.id),
        (LineState.MATCHED, b.id),
        (LineState.IGNORED, ""),  # the bank fee: recorded, never matched
    ]
    assert lines[0].reference == a.reference


def test_the_file_is_kept_as_received(day):
    data = sample("camt053_statement.xml", **day[2])
    statement = BankStatement.objects.get(pk=_import(data).statement_id)
    assert bytes(statement.raw) == data
    assert (statement.livemode, statement.format, statement.account_iban) == (
        False, "camt053", TEST_IBAN,
    )  # fmt: skip
    assert statement.bank_statement_id == "STMT-20261207-001"


def test_importing_the_same_statement_twice_books_nothing_twice(day):
    a, _, values = day
    data = sample("camt053_statement.xml", **values)
    first = _import(data)
    entries_before = _bank_entries(a.id)

    again = _import(data, "renamed.xml")

    assert again.statement_id == first.statement_id
    assert (again.created, again.credits, again.matched) == (False, 0, 0)
    assert _bank_entries(a.id) == entries_before
    assert BankStatement.objects.count() == 1
    assert StatementLine.objects.count() == 3


def test_an_overlapping_statement_books_only_its_new_entry(day, merchant):
    a, _, values = day
    c = open_bank_transfer(merchant.merchant.id, 8000)
    _import(sample("camt053_statement.xml", **values))
    entries_of_a = _bank_entries(a.id)

    result = _import(sample("camt053_next_day.xml", **values, REFERENCE_C=c.reference))

    assert (result.created, result.credits, result.matched, result.duplicates) == (True, 1, 1, 1)
    assert _bank_entries(a.id) == entries_of_a
    assert _status(c.id) == "captured"
    assert StatementLine.objects.filter(payment_id=a.id).count() == 1


def test_an_mt940_statement_overlapping_a_camt_one_books_nothing_twice(day):
    a, b, values = day
    _import(sample("camt053_statement.xml", **values))

    result = _import(sample("mt940_statement.sta", **values), "day.sta")

    assert (result.created, result.credits, result.duplicates) == (True, 0, 3)
    assert len(_bank_entries(a.id)) == len(_bank_entries(b.id)) == 2


def test_the_same_entry_key_cannot_be_stored_twice(day):
    _import(sample("camt053_statement.xml", **day[2]))
    line = StatementLine.objects.filter(credit=True).first()
    line.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        line.save()


def test_a_statement_of_an_unknown_account_is_refused(day):
    data = camt053(Credit("125.00", day[0].reference), iban=UNKNOWN_IBAN)

    with pytest.raises(services.UnknownCollectionAccount) as refused:
        _import(data)

    assert UNKNOWN_IBAN in refused.value.message
    assert BankStatement.objects.count() == 0
    assert _status(day[0].id) == "requires_action"


def test_the_live_account_never_pays_a_test_payment(day):
    a = day[0]

    result = _import(camt053(Credit("125.00", a.reference), iban=LIVE_IBAN))

    line = StatementLine.objects.get(statement_id=result.statement_id)
    assert line.livemode is True
    assert line.state == LineState.MANUAL_QUEUE
    assert _status(a.id) == "requires_action"


def test_a_live_statement_pays_a_live_payment(merchant):
    live = open_bank_transfer(merchant.merchant.id, 3000, livemode=True)

    result = _import(camt053(Credit("30.00", live.reference), iban=LIVE_IBAN))

    assert result.matched == 1
    assert _status(live.id) == "captured"
    entries = selectors.payment_entries(payment_id=live.id)
    assert (f"bank:{LIVE_IBAN}", 3000) in [(row.account_owner, row.debit_minor) for row in entries]


def test_a_synthetic_credit_pays_through_the_same_matcher(merchant):
    payment = open_bank_transfer(merchant.merchant.id, 2500)

    result = services.record_synthetic_credit(
        livemode=False,
        amount_minor=2500,
        currency="eur",
        reference=payment.reference,
        payer_name="Jane Doe",
    )

    assert (result.created, result.credits, result.matched) == (True, 1, 1)
    assert _status(payment.id) == "captured"
    assert BankStatement.objects.get(pk=result.statement_id).format == "synthetic"


def test_synthetic_credits_are_refused_in_live_mode():
    with pytest.raises(services.LedgerInvalidState):
        services.record_synthetic_credit(
            livemode=True, amount_minor=100, currency="EUR", reference="", payer_name=""
        )


def test_the_command_imports_with_progress_and_prints_the_summary(day, tmp_path):
    a, _, values = day
    path = tmp_path / "day.xml"
    path.write_bytes(sample("camt053_statement.xml", **values))
    out, err = io.StringIO(), io.StringIO()

    call_command("import_bank_statement", str(path), stdout=out, stderr=err)

    summary = "2 credits, 2 matched, 0 queued, 0 held, 1 debits, 0 duplicates skipped"
    assert summary in out.getvalue()
    assert "3/3" in err.getvalue()  # the progress bar reached the last entry
    assert _status(a.id) == "captured"

    again = io.StringIO()
    call_command("import_bank_statement", str(path), "--format", "camt053", stdout=again)
    assert "imported before; nothing booked twice" in again.getvalue()


def test_the_command_names_what_it_refused(db, tmp_path):
    path = tmp_path / "other.xml"
    path.write_bytes(camt053(Credit("1.00"), iban=UNKNOWN_IBAN))
    with pytest.raises(CommandError, match="not a configured collection account"):
        call_command("import_bank_statement", str(path), "--no-progress")


def test_manual_decisions_cannot_be_changed_or_deleted(day, merchant):
    result = _import(camt053(Credit("10.00", "no reference")))
    line = StatementLine.objects.get(statement_id=result.statement_id)
    services.ignore_line(line_id=line.pk, reason="returned to the payer", username="fin")
    decision = ManualDecision.objects.get(line=line)

    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        ManualDecision.objects.filter(pk=decision.pk).update(username="someone else")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        decision.delete()


def test_an_interrupted_import_is_resumed_by_importing_the_file_again(day):
    a, b, values = day
    data = sample("camt053_statement.xml", **values)
    matcher = hooks.credit_matcher()
    hooks.unregister_credit_matcher()
    try:
        with pytest.raises(hooks.NoCreditMatcher):
            _import(data)
    finally:
        hooks.register_credit_matcher(matcher)
    assert StatementLine.objects.filter(state=LineState.UNMATCHED).count() == 2

    resumed = _import(data)

    assert (resumed.created, resumed.credits, resumed.matched) == (False, 2, 2)
    assert _status(a.id) == _status(b.id) == "captured"


def test_the_transfers_of_a_batch_entry_are_stored_as_separate_lines(db):
    result = _import((DATA / "camt053_batch.xml").read_bytes())

    lines = StatementLine.objects.filter(statement_id=result.statement_id).order_by("id")
    assert [(line.amount_minor, line.entry_key.rsplit("#", 1)[1]) for line in lines] == [
        (1000, "0"),
        (2000, "1"),
        (9235, "0"),
    ]
    assert result.queued == 3  # no open payments carry these references
