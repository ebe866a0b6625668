"""Bank credits the reference does not settle are not guessed: a mistyped or missing reference
and several candidates go to the manual-match queue with suggestions; a different amount is
held; a finance user's match completes and books the payment and is recorded with their name."""

from __future__ import annotations

import pytest

from core.errors import DomainError, NotFound
from ledger import selectors
from ledger.statements import services
from ledger.statements.models import LineState, ManualDecision, StatementLine
from payments.bank_transfers import name_likeness
from payments.models import Payment
from tests.ledger.bank_files import (
    TEST_IBAN,
    Credit,
    camt053,
    collection_accounts,  # noqa: F401  a fixture
    open_bank_transfer,
    spaced,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collection_accounts")]


def _line_for(*credits: Credit) -> StatementLine:
    result = services.import_statement(data=camt053(*credits), filename="s.xml", actor="tests")
    return StatementLine.objects.filter(statement_id=result.statement_id).order_by("id").first()


def _status(payment_id: str) -> str:
    return Payment.objects.get(pk=payment_id).status


def _booked(payment_id: str) -> list[tuple[str, int, int]]:
    return [
        (row.account_kind, row.debit_minor, row.credit_minor)
        for row in selectors.payment_entries(payment_id=payment_id)
    ]


def _suggested(line: StatementLine) -> list[str]:
    return [suggestion["payment_id"] for suggestion in line.suggestions]


@pytest.fixture
def payment(merchant):
    return open_bank_transfer(merchant.merchant.id, 12500)


def test_a_mistyped_reference_goes_to_the_queue_with_the_payment_of_that_amount(payment):
    check = int(payment.reference[2:4])  # 02..98: any other value fails
    typo = f"RF{(check - 1) % 97 + 2:02d}{payment.reference[4:]}"

    line = _line_for(Credit("125.00", f"Order {spaced(typo)}"))

    assert line.state == LineState.MANUAL_QUEUE
    assert "mistyped reference" in line.note
    assert _suggested(line) == [payment.id]
    assert _status(payment.id) == "requires_action"
    assert _booked(payment.id) == []


def test_a_credit_without_reference_is_queued_with_suggestions_by_amount_and_name(merchant):
    jane = open_bank_transfer(merchant.merchant.id, 5000)
    other = open_bank_transfer(merchant.merchant.id, 5000)
    open_bank_transfer(merchant.merchant.id, 5100)  # another amount: not suggested
    # The customer's name as payments keeps it for a collection payment.
    Payment.objects.filter(pk=jane.id).update(method_details={"customer_name": "Doe, Jane"})
    Payment.objects.filter(pk=other.id).update(method_details={"customer_name": "Bob Stone"})

    line = _line_for(Credit("50.00", "thanks for the shoes", payer="JANE DOE"))

    assert line.state == LineState.MANUAL_QUEUE
    assert line.note == "no payment reference in the remittance"
    assert _suggested(line) == [jane.id, other.id]  # the payer's name ranks Jane first
    assert line.suggestions[0]["score"] > line.suggestions[1]["score"]
    assert _status(jane.id) == _status(other.id) == "requires_action"


def test_a_remittance_naming_two_open_payments_completes_neither(merchant):
    first = open_bank_transfer(merchant.merchant.id, 2000)
    second = open_bank_transfer(merchant.merchant.id, 2000)

    line = _line_for(Credit("20.00", f"{first.reference} {second.reference}"))

    assert line.state == LineState.MANUAL_QUEUE
    assert "several open payments" in line.note
    assert set(_suggested(line)) == {first.id, second.id}
    assert _status(first.id) == _status(second.id) == "requires_action"


@pytest.mark.parametrize(
    ("amount", "state"),
    [("130.00", LineState.HELD_OVERPAID), ("120.00", LineState.HELD_UNDERPAID)],
)
def test_a_different_amount_is_held_against_the_payment_and_books_nothing(payment, amount, state):
    line = _line_for(Credit(amount, payment.reference))

    assert line.state == state
    assert line.payment_id == payment.id
    assert "nothing completed" in line.note
    assert _status(payment.id) == "requires_action"
    assert _booked(payment.id) == []


def test_a_second_transfer_for_a_paid_payment_waits_for_a_decision(payment):
    paid = _line_for(Credit("125.00", payment.reference, bank_reference="BK-FIRST"))
    again = _line_for(Credit("125.00", payment.reference, bank_reference="BK-SECOND"))

    assert paid.state == LineState.MATCHED
    assert again.state == LineState.MANUAL_QUEUE
    assert f"no open bank transfer has reference {payment.reference}" in again.note
    assert len(_booked(payment.id)) == 2  # one booking, two entries


def test_a_manual_match_completes_books_and_records_who_made_it(payment):
    line = _line_for(Credit("125.00", "for my order", payer="Jane Doe"))

    services.match_line_manually(
        line_id=line.pk, payment_id=payment.id, username="fin.anna", reason="phoned the payer"
    )

    line.refresh_from_db()
    assert (line.state, line.payment_id) == (LineState.MATCHED, payment.id)
    assert _status(payment.id) == "captured"
    assert _booked(payment.id) == [("bank", 12500, 0), ("merchant_payable", 0, 12500)]
    assert selectors.payment_summary(payment_id=payment.id).balanced
    decision = ManualDecision.objects.get(line=line)
    assert (decision.username, decision.decision, decision.payment_id, decision.reason) == (
        "fin.anna", "matched", payment.id, "phoned the payer",
    )  # fmt: skip
    assert decision.decided_at is not None


def test_a_held_credit_cannot_be_matched_to_its_payment_by_hand(payment):
    line = _line_for(Credit("130.00", payment.reference))

    with pytest.raises(DomainError) as refused:
        services.match_line_manually(line_id=line.pk, payment_id=payment.id, username="fin")

    assert refused.value.code == "amount_mismatch"
    line.refresh_from_db()
    assert line.state == LineState.HELD_OVERPAID
    assert not ManualDecision.objects.exists()
    assert _status(payment.id) == "requires_action"


def test_a_test_credit_cannot_pay_a_live_payment(merchant):
    live = open_bank_transfer(merchant.merchant.id, 12500, livemode=True)
    line = _line_for(Credit("125.00", "no reference"))

    with pytest.raises(NotFound):
        services.match_line_manually(line_id=line.pk, payment_id=live.id, username="fin")

    assert _status(live.id) == "requires_action"


def test_a_matched_line_cannot_be_decided_again(payment):
    line = _line_for(Credit("125.00", payment.reference))

    with pytest.raises(DomainError) as refused:
        services.ignore_line(line_id=line.pk, reason="oops", username="fin")

    assert refused.value.code == "bank_line_not_open"


def test_ignoring_a_credit_needs_a_reason_and_is_recorded(payment):
    line = _line_for(Credit("7.00", "unknown"))

    with pytest.raises(DomainError):
        services.ignore_line(line_id=line.pk, reason="  ", username="fin.bo")
    services.ignore_line(line_id=line.pk, reason="returned to the payer", username="fin.bo")

    line.refresh_from_db()
    assert line.state == LineState.IGNORED
    assert "fin.bo" in line.note
    assert ManualDecision.objects.get(line=line).username == "fin.bo"


def test_payer_names_are_compared_ignoring_case_accents_and_order():
    assert name_likeness("MUELLER, Jörg", "Jorg Mueller") == 1.0
    assert name_likeness("Jane Doe", "Bob Stone") < 0.5
    assert name_likeness("", "Jane Doe") == 0.0


def test_the_collection_account_is_the_bank_account_booked(payment):
    _line_for(Credit("125.00", payment.reference))
    owners = {row.account_owner for row in selectors.payment_entries(payment_id=payment.id)}
    assert f"bank:{TEST_IBAN}" in owners
