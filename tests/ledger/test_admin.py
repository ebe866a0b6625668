"""Finance back office: read-only ledger admin, streaming CSV export behind a permission."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from ledger import exports, selectors, services
from ledger.services import Line
from tests.ledger.conftest import unique


def _staff_client(*, can_export: bool) -> Client:
    user = User.objects.create_user(unique("fin"), password="pw", is_staff=True)
    codenames = ["view_account", "view_transaction", "view_entry"]
    if can_export:
        codenames.append("export_entries")
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="ledger", codename__in=codenames)
    )
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # as after a verified second factor
    session.save()
    return client


@pytest.fixture
def posted(eur_accounts):
    payment_id = unique("pay")
    txn = services.post_transaction(
        kind="capture",
        reference=unique("cap"),
        payment_id=payment_id,
        lines=[
            Line(account_id=eur_accounts["receivable"], debit_minor=4321),
            Line(account_id=eur_accounts["payable"], credit_minor=4321),
        ],
        livemode=False,
    )
    return txn, payment_id


def test_export_streams_the_entries_of_the_date_range(posted):
    _, payment_id = posted
    today = timezone.now().date()
    response = _staff_client(can_export=True).get(
        reverse("admin:ledger_entry_export"), {"from": str(today), "to": str(today)}
    )
    assert response.status_code == 200
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    mine = [r for r in rows if r["payment_id"] == payment_id]
    assert [(r["debit"], r["credit"], r["kind"]) for r in mine] == [
        ("4321", "0", "capture"),
        ("0", "4321", "capture"),
    ]


def test_export_excludes_entries_outside_the_range(posted):
    _, payment_id = posted
    yesterday = timezone.now().date() - timedelta(days=1)
    response = _staff_client(can_export=True).get(
        reverse("admin:ledger_entry_export"), {"from": str(yesterday), "to": str(yesterday)}
    )
    body = b"".join(response.streaming_content).decode()
    assert payment_id not in body
    assert body.startswith("entry_id,")


def test_export_needs_the_export_permission(posted):
    response = _staff_client(can_export=False).get(
        reverse("admin:ledger_entry_export"), {"from": "2026-01-01", "to": "2026-01-02"}
    )
    assert response.status_code == 403


def test_ledger_admin_pages_render_and_offer_no_changes(posted):
    txn, payment_id = posted
    client = _staff_client(can_export=True)
    for name in ("account", "transaction", "entry"):
        page = client.get(reverse(f"admin:ledger_{name}_changelist"))
        assert page.status_code == 200, name
        assert b"addlink" not in page.content
    detail = client.get(reverse("admin:ledger_transaction_change", args=[txn.id]))
    assert detail.status_code == 200
    assert b"4321" in detail.content
    filtered = client.get(reverse("admin:ledger_entry_changelist"), {"q": payment_id})
    assert filtered.status_code == 200 and payment_id.encode() in filtered.content
    assert client.get(reverse("admin:ledger_entry_add")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_export_reads_through_a_cursor_that_is_not_held_past_its_transaction():
    """Outside a transaction Django declares the cursor WITH HOLD, and PostgreSQL materializes
    the whole range at the first commit; the export reads inside its own transaction."""
    bank = services.ensure_account(
        owner=unique("bank:x"), kind="bank", currency="EUR", livemode=False
    )
    cash = services.ensure_account(
        owner=unique("bank:x"), kind="bank", currency="EUR", livemode=False
    )
    services.post_transaction(
        kind="adjustment",
        reference=unique("adj"),
        lines=[Line(account_id=bank, debit_minor=5), Line(account_id=cash, credit_minor=5)],
        livemode=False,
    )
    assert not connection.in_atomic_block  # as in a streaming response, after the view returned
    now = timezone.now()
    rows = exports.entry_csv_rows(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    assert next(rows).startswith("entry_id,")
    next(rows)  # the first entry: the server-side cursor is open now
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
        holdable = [row[0] for row in cursor.fetchall()]
    assert connection.in_atomic_block
    assert holdable == [False]
    rows.close()  # the client went away: the transaction ends with the generator
    assert not connection.in_atomic_block


def _changelist(client: Client, name: str, params: dict) -> list:
    response = client.get(reverse(f"admin:ledger_{name}_changelist"), params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_transactions_filter_by_currency_and_payment(eur_accounts, posted):
    txn, payment_id = posted
    usd_bank = services.ensure_account(
        owner=unique("bank:us"), kind="bank", currency="USD", livemode=False
    )
    usd_cash = services.ensure_account(
        owner=unique("bank:us"), kind="bank", currency="USD", livemode=False
    )
    usd = services.post_transaction(
        kind="adjustment",
        reference=unique("adj"),
        lines=[Line(account_id=usd_bank, debit_minor=9), Line(account_id=usd_cash, credit_minor=9)],
        livemode=False,
    )
    client = _staff_client(can_export=False)

    in_usd = {t.id for t in _changelist(client, "transaction", {"currency": "USD"})}
    assert usd.id in in_usd and txn.id not in in_usd
    in_eur = {t.id for t in _changelist(client, "transaction", {"currency": "EUR"})}
    assert txn.id in in_eur and usd.id not in in_eur
    of_payment = _changelist(client, "transaction", {"payment_id": payment_id})
    assert [t.id for t in of_payment] == [txn.id]
    without_payment = {t.id for t in _changelist(client, "transaction", {"payment_id": "-"})}
    assert usd.id in without_payment and txn.id not in without_payment


def test_accounts_list_shows_pending_and_available(db):
    payment_id, merchant, provider = unique("pay"), unique("acct"), unique("sim")
    services.place_hold(
        payment_id=payment_id, reference=f"{payment_id}:hold", merchant_id=merchant,
        provider=provider, amount_minor=10_000, currency="EUR", livemode=False,
    )  # fmt: skip
    services.capture_hold(
        payment_id=payment_id, reference=f"{payment_id}:cap", amount_minor=100, livemode=False
    )
    other = unique("pay")
    services.place_hold(
        payment_id=other, reference=f"{other}:hold", merchant_id=merchant,
        provider=provider, amount_minor=700, currency="EUR", livemode=False,
    )  # fmt: skip
    client = _staff_client(can_export=False)
    response = client.get(reverse("admin:ledger_account_changelist"), {"q": merchant})
    assert b"column-pending" in response.content and b"column-available" in response.content

    model_admin = response.context["cl"].model_admin
    accounts = {a.kind: a for a in response.context["cl"].result_list}
    assert set(accounts) == {"merchant_pending", "merchant_payable"}
    for account in accounts.values():  # the admin agrees with the selector, in one query
        balance = selectors.account_balance(account_id=account.id)
        assert (
            model_admin.posted(account),
            model_admin.pending(account),
            model_admin.available(account),
        ) == (balance.posted_minor, balance.pending_minor, balance.available_minor)
    payable = accounts["merchant_payable"]
    assert (model_admin.posted(payable), model_admin.pending(payable)) == (100, 700)
    assert model_admin.available(payable) == 100
