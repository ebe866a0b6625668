"""The support console and each group's permissions: support works disputes (queue, evidence,
accept, notes) but cannot refund or touch the ledger; finance can; the data migration grants
the disputes permissions and `sync_staff_groups` keeps the same ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from disputes.models import Dispute, DisputeEvent, DisputeNote, Evidence, EvidenceFile, Status
from merchants import roles
from tests.disputes.factories import DisputeFactory
from tests.payments.test_admin import staff_client

pytestmark = pytest.mark.django_db
QUEUE = "/admin/disputes/dispute/"
DISPUTE_WORK = {
    "disputes.view_dispute",
    "disputes.change_dispute",
    "disputes.submit_evidence",
    "disputes.accept_dispute",
    "disputes.add_disputenote",
    "disputes.add_evidencefile",
}
MONEY = {"payments.refund_payment", "ledger.view_entry", "ledger.export_entries"}


def _url(name: str, dispute: Dispute, *args: str) -> str:
    return reverse(f"admin:disputes_dispute_{name}", args=[quote(dispute.pk), *args])


def _permissions(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_the_data_migration_granted_the_disputes_permissions():
    # The test database was built by the migrations: the groups exist with these grants.
    for group in (roles.SUPPORT, roles.FINANCE):
        assert _permissions(group) >= DISPUTE_WORK
        assert not MONEY & _permissions(group)  # money is granted by roles, to finance only


def test_support_works_disputes_but_cannot_refund_or_touch_the_ledger():
    roles.sync_staff_groups()
    support = _permissions(roles.SUPPORT)
    assert support >= DISPUTE_WORK
    assert not any(p.startswith("ledger.") for p in support)
    assert "payments.refund_payment" not in support
    assert "payments.capture_payment" not in support


def test_finance_works_disputes_and_may_refund_and_read_the_ledger():
    roles.sync_staff_groups()
    finance = _permissions(roles.FINANCE)
    assert finance >= DISPUTE_WORK | MONEY


def test_the_queue_is_ordered_by_deadline_with_days_left_highlighted(captured):
    now = timezone.now()
    later = DisputeFactory(payment=captured(), evidence_due_by=now + timedelta(days=6, hours=1))
    urgent = DisputeFactory(payment=captured(), evidence_due_by=now + timedelta(hours=20))
    DisputeFactory(payment=captured(), evidence_due_by=None, status=Status.WON)
    page = staff_client(roles.SUPPORT).get(QUEUE).content.decode()
    assert page.index(urgent.id) < page.index(later.id)
    assert 'style="color:#ba2121">0 day(s)' in page
    assert 'style="color:#417690">6 days' in page


@pytest.mark.parametrize(
    "query",
    [
        {"status__exact": "needs_response"},
        {"reason__exact": "duplicate"},
        {"provider": "sim-a"},
        {"amount": "10000-100000"},
    ],
)
def test_the_queue_filters(captured, query):
    wanted = DisputeFactory(payment=captured(amount_minor=20_000), reason="duplicate")
    other = DisputeFactory(
        payment=captured(amount_minor=500, livemode=True),
        status=Status.LOST,
        reason="fraudulent",
    )
    page = staff_client(roles.SUPPORT).get(QUEUE, query).content.decode()
    assert wanted.id in page and other.id not in page


def test_the_queue_filters_by_merchant(captured, merchant, other_merchant):
    from tests.disputes.factories import CapturedPaymentFactory

    mine = DisputeFactory(payment=captured())
    theirs = DisputeFactory(payment=CapturedPaymentFactory(merchant=other_merchant.merchant))
    page = staff_client(roles.SUPPORT).get(QUEUE, {"merchant__id__exact": merchant.merchant.id})
    assert mine.id in page.content.decode() and theirs.id not in page.content.decode()


def test_the_dispute_page_shows_the_payment_its_events_and_fraud_assessment(captured):
    payment = captured()
    dispute = DisputeFactory(payment=payment)
    page = staff_client(roles.SUPPORT).get(_url("change", dispute)).content.decode()
    assert payment.id in page
    assert "no fraud assessment" in page or "fraud:" in page
    assert "Evidence…" in page and "Accept" in page
    assert "Shown to finance." in page  # support does not see the ledger
    finance_page = staff_client(roles.FINANCE).get(_url("change", dispute)).content.decode()
    assert "capture" in finance_page  # the payment's ledger entries


def test_an_unknown_payments_dispute_is_visible_in_the_console():
    dispute = DisputeFactory(payment=None, needs_finance_review=True)
    page = staff_client(roles.FINANCE).get(QUEUE, {"needs_finance_review__exact": "1"})
    assert dispute.id in page.content.decode()
    detail = staff_client(roles.FINANCE).get(_url("change", dispute)).content.decode()
    assert "Unknown payment" in detail


def test_support_saves_evidence_with_a_file_and_adds_a_note(captured):
    dispute = DisputeFactory(payment=captured())
    support = staff_client(roles.SUPPORT)
    pdf = SimpleUploadedFile("policy.pdf", b"%PDF-1.4\n%%EOF", content_type="application/pdf")
    response = support.post(
        _url("evidence", dispute),
        {"refund_policy": "30 days", "file": pdf, "purpose": "refund_policy", "_save": "1"},
    )
    assert response.status_code == 302
    assert Evidence.objects.get(dispute=dispute).texts == {"refund_policy": "30 days"}
    file = EvidenceFile.objects.get(dispute=dispute)
    assert file.uploaded_by == f"admin:{support.username}"
    download = support.get(_url("file", dispute, file.pk))
    assert download.status_code == 200 and download.content == b"%PDF-1.4\n%%EOF"

    support.post(_url("note", dispute), {"text": "Customer called twice."})
    note = DisputeNote.objects.get(dispute=dispute)
    assert (note.text, note.author) == ("Customer called twice.", f"admin:{support.username}")


def test_support_accepts_a_dispute_in_the_console(captured):
    dispute = DisputeFactory(payment=captured())
    support = staff_client(roles.SUPPORT)
    support.post(_url("accept", dispute))
    assert Dispute.objects.get(pk=dispute.id).status == Status.ACCEPTED
    assert DisputeEvent.objects.filter(dispute=dispute, to_status="accepted").get().actor == (
        f"admin:{support.username}"
    )


def test_staff_without_the_permissions_cannot_use_the_tools(captured):
    dispute = DisputeFactory(payment=captured())
    nobody = staff_client("nobody")
    assert nobody.post(_url("accept", dispute)).status_code == 403
    assert nobody.post(_url("note", dispute), {"text": "x"}).status_code == 403
    assert nobody.get(_url("evidence", dispute)).status_code == 403
    assert nobody.get(QUEUE).status_code == 403
    assert Dispute.objects.get(pk=dispute.id).status == Status.NEEDS_RESPONSE


def test_support_cannot_refund_in_the_payments_console(captured):
    payment = captured()
    response = staff_client(roles.SUPPORT).post(
        "/admin/payments/payment/",
        {"action": "refund_selected", "_selected_action": [payment.id]},
    )
    # The action is not offered to support: Django answers with the list, nothing refunded.
    assert response.status_code in (200, 302, 403)
    assert payment.refunds.count() == 0
