"""The deadline job at its boundary times: reminders 7, 3 and 1 days before `evidence_due_by`
(a record and an email to the merchant's contact and the support group), and a dispute without
submitted evidence lost by our clock just after the deadline, not at it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail

from disputes import services, tasks
from disputes.models import Dispute, Evidence, MerchantContact, Reminder, Status
from merchants import roles
from tests.disputes.factories import DisputeFactory

pytestmark = pytest.mark.django_db
DUE = datetime(2026, 12, 20, 17, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@pytest.fixture
def dispute(captured, merchant):
    MerchantContact.objects.create(merchant=merchant.merchant, email="disputes@acme.example")
    Group.objects.get_or_create(name=roles.SUPPORT)
    agent = User.objects.create_user("agent", email="agent@qr.example", is_staff=True)
    agent.groups.add(Group.objects.get(name=roles.SUPPORT))
    User.objects.create_user("outsider", email="outsider@qr.example", is_staff=True)
    return DisputeFactory(payment=captured(), evidence_due_by=DUE)


def _reminders(dispute) -> list[int]:
    return list(Reminder.objects.filter(dispute=dispute).values_list("days_before", flat=True))


@pytest.mark.parametrize("days", [7, 3, 1])
def test_a_reminder_is_sent_at_its_step_and_not_a_moment_before(dispute, days):
    services.send_reminders(now=DUE - timedelta(days=days) - TICK)
    assert _reminders(dispute) == ([] if days == 7 else [{3: 7, 1: 3}[days]])
    mail.outbox.clear()
    Reminder.objects.filter(dispute=dispute).delete()

    assert services.send_reminders(now=DUE - timedelta(days=days)) == 1
    assert _reminders(dispute) == [days]
    [message] = mail.outbox
    assert sorted(message.to) == ["agent@qr.example", "disputes@acme.example"]
    assert f"evidence due in {days} day" in message.subject
    assert dispute.id in message.body


def test_each_step_is_sent_once_across_runs(dispute):
    for now in (
        DUE - timedelta(days=7),
        DUE - timedelta(days=6),
        DUE - timedelta(days=3),
        DUE - timedelta(days=2),
        DUE - timedelta(days=1),
        DUE - timedelta(hours=1),
        DUE,
    ):
        services.send_reminders(now=now)
    assert _reminders(dispute) == [7, 3, 1]
    assert len(mail.outbox) == 3


def test_a_dispute_opened_late_gets_only_the_tightest_reminder(dispute):
    services.send_reminders(now=DUE - timedelta(days=2))
    assert _reminders(dispute) == [3]


def test_no_reminder_once_evidence_is_submitted(dispute):
    Evidence.objects.create(dispute=dispute, texts={"uncategorized_text": "x"}, submitted_at=DUE)
    assert services.send_reminders(now=DUE - timedelta(days=1)) == 0


def test_a_moved_deadline_gets_reminders_of_its_own(dispute):
    services.send_reminders(now=DUE - timedelta(days=1))
    later = DUE + timedelta(days=10)
    Dispute.objects.filter(pk=dispute.id).update(evidence_due_by=later)
    services.send_reminders(now=later - timedelta(days=7))
    assert sorted(_reminders(dispute)) == [1, 7]


def test_at_the_deadline_the_dispute_is_still_open(dispute):
    assert services.mark_overdue_lost(now=DUE) == 0
    assert Dispute.objects.get(pk=dispute.id).status == Status.NEEDS_RESPONSE


def test_just_after_the_deadline_it_is_lost_by_our_clock(dispute):
    assert services.mark_overdue_lost(now=DUE + TICK) == 1
    lost = Dispute.objects.get(pk=dispute.id)
    assert (lost.status, lost.lost_by_deadline, lost.withdrawal_posted) == ("lost", True, True)
    assert services.mark_overdue_lost(now=DUE + timedelta(days=1)) == 0  # once


def test_submitted_evidence_is_never_lost_by_our_clock(captured):
    dispute = DisputeFactory(payment=captured(), status=Status.UNDER_REVIEW, evidence_due_by=DUE)
    Evidence.objects.create(dispute=dispute, texts={"uncategorized_text": "x"}, submitted_at=DUE)
    assert services.mark_overdue_lost(now=DUE + timedelta(days=3)) == 0


def test_saved_but_unsubmitted_evidence_does_not_save_the_dispute(dispute):
    Evidence.objects.create(dispute=dispute, texts={"uncategorized_text": "draft"})
    assert services.mark_overdue_lost(now=DUE + TICK) == 1


def test_evidence_cannot_be_saved_after_the_deadline(dispute, api):
    Dispute.objects.filter(pk=dispute.id).update(
        evidence_due_by=datetime.now(UTC) - timedelta(seconds=1)
    )
    response = api.post(
        f"/api/disputes/{dispute.id}/evidence",
        {"evidence": {"uncategorized_text": "too late"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "dispute_evidence_deadline_passed"


def test_inquiries_are_reminded_but_not_lost_by_our_clock(captured):
    inquiry = DisputeFactory(
        payment=captured(), status=Status.WARNING_NEEDS_RESPONSE, evidence_due_by=DUE
    )
    assert services.send_reminders(now=DUE - timedelta(days=1)) == 1
    assert services.mark_overdue_lost(now=DUE + timedelta(days=1)) == 0
    assert Dispute.objects.get(pk=inquiry.id).status == Status.WARNING_NEEDS_RESPONSE


def test_the_beat_task_runs_reminders_and_the_clock(captured):
    DisputeFactory(
        payment=captured(),
        evidence_due_by=datetime.now(UTC) + timedelta(hours=12),
    )
    overdue = DisputeFactory(
        payment=captured(), evidence_due_by=datetime.now(UTC) - timedelta(minutes=1)
    )
    assert tasks.run_deadlines.delay().get() == {"reminders": 1, "lost": 1}
    assert Dispute.objects.get(pk=overdue.id).status == Status.LOST
