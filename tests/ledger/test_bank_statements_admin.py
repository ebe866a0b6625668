"""The bank statement back office: finance uploads a statement and sees what it did, and decides
queued credits (match to a payment, or ignore with a reason), recorded with their username."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from ledger.statements import services
from ledger.statements.models import BankStatement, LineState, ManualDecision, StatementLine
from merchants import roles
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
UPLOAD = "/admin/ledger/bankstatement/upload/"
_usernames = itertools.count()


def _staff(role: str) -> Client:
    """Signed in with password and second factor, in `role`'s group (any other role: none)."""
    roles.sync_staff_groups()
    user = User.objects.create_user(f"{role}{next(_usernames)}", password="pw", is_staff=True)
    if role in roles.GROUP_PERMISSIONS:
        user.groups.add(Group.objects.get(name=role))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    client.username = user.username
    return client


def _queued_line(*credits: Credit) -> StatementLine:
    result = services.import_statement(data=camt053(*credits), filename="s.xml", actor="tests")
    return StatementLine.objects.get(statement_id=result.statement_id)


def test_finance_uploads_a_statement_and_sees_the_result(merchant):
    payment = open_bank_transfer(merchant.merchant.id, 12500)
    other = open_bank_transfer(merchant.merchant.id, 4990)
    data = sample(
        "camt053_statement.xml",
        ACCOUNT_IBAN=TEST_IBAN,
        REFERENCE_A=payment.reference,
        REFERENCE_B=other.reference,
    )
    client = _staff(roles.FINANCE)

    response = client.post(UPLOAD, {"file": SimpleUploadedFile("day.xml", data)})

    assert response.status_code == 200
    page = response.content.decode()
    assert "imported" in page and 'id="import-result"' in page
    assert BankStatement.objects.get().imported_by == f"admin:{client.username}"
    assert Payment.objects.get(pk=payment.id).status == "captured"

    again = client.post(UPLOAD, {"file": SimpleUploadedFile("day.xml", data)})
    assert "was imported before" in again.content.decode()
    assert BankStatement.objects.count() == 1


def test_an_upload_for_an_unknown_account_says_why_nothing_was_imported():
    client = _staff(roles.FINANCE)
    data = camt053(Credit("1.00"), iban="FR1420041010050500013M02606")

    response = client.post(UPLOAD, {"file": SimpleUploadedFile("x.xml", data)}, follow=True)

    assert "not a configured collection account" in response.content.decode()
    assert not BankStatement.objects.exists()


def test_support_may_neither_upload_nor_decide():
    client = _staff(roles.SUPPORT)
    line = _queued_line(Credit("10.00", "no reference"))

    assert client.get(UPLOAD).status_code == 403
    decide = reverse("admin:ledger_statementline_decide", args=[line.pk])
    assert client.post(decide, {"payment_id": "pay_x", "match": "1"}).status_code == 403


def test_the_queue_lists_credits_waiting_for_a_decision(merchant):
    payment = open_bank_transfer(merchant.merchant.id, 1000)
    line = _queued_line(Credit("10.00", "no reference", payer="Jane Doe"))
    client = _staff(roles.FINANCE)

    queue = client.get("/admin/ledger/statementline/?queue=yes")
    decide_page = client.get(reverse("admin:ledger_statementline_decide", args=[line.pk]))

    assert queue.status_code == 200
    assert reverse("admin:ledger_statementline_decide", args=[line.pk]) in queue.content.decode()
    assert decide_page.status_code == 200
    assert payment.id in decide_page.content.decode()  # suggested: same amount


def test_finance_matches_a_queued_credit_and_is_recorded(merchant):
    payment = open_bank_transfer(merchant.merchant.id, 1000)
    line = _queued_line(Credit("10.00", "no reference"))
    client = _staff(roles.FINANCE)

    response = client.post(
        reverse("admin:ledger_statementline_decide", args=[line.pk]),
        {"payment_id": payment.id, "match": "1"},
    )

    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.state, line.payment_id) == (LineState.MATCHED, payment.id)
    assert Payment.objects.get(pk=payment.id).status == "captured"
    assert ManualDecision.objects.get(line=line).username == client.username


def test_a_refused_match_is_shown_and_changes_nothing(merchant):
    payment = open_bank_transfer(merchant.merchant.id, 1000)
    line = _queued_line(Credit("12.00", "no reference"))
    client = _staff(roles.FINANCE)

    response = client.post(
        reverse("admin:ledger_statementline_decide", args=[line.pk]),
        {"payment_id": payment.id, "match": "1"},
        follow=True,
    )

    assert "Not done" in response.content.decode()
    line.refresh_from_db()
    assert line.state == LineState.MANUAL_QUEUE
    assert not ManualDecision.objects.exists()


def test_finance_ignores_a_credit_with_a_reason():
    line = _queued_line(Credit("10.00", "no reference"))
    client = _staff(roles.FINANCE)

    client.post(
        reverse("admin:ledger_statementline_decide", args=[line.pk]),
        {"reason": "sent back to the payer", "ignore": "1"},
    )

    line.refresh_from_db()
    assert line.state == LineState.IGNORED
    decision = ManualDecision.objects.get(line=line)
    assert (decision.decision, decision.reason, decision.username) == (
        "ignored", "sent back to the payer", client.username,
    )  # fmt: skip


def test_the_statement_and_line_pages_render(merchant):
    line = _queued_line(Credit("10.00", "no reference"))
    client = _staff(roles.FINANCE)
    pages = [
        "/admin/ledger/bankstatement/",
        f"/admin/ledger/bankstatement/{line.statement_id}/change/",
        "/admin/ledger/statementline/",
        f"/admin/ledger/statementline/{line.pk}/change/",
        "/admin/ledger/manualdecision/",
        UPLOAD,
    ]
    for page in pages:
        assert client.get(page).status_code == 200, page
