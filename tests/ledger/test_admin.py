"""Finance back office: read-only ledger admin, streaming CSV export behind a permission."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from ledger import services
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
