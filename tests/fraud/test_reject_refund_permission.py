"""Segregation of duties in the review queue: support may reject (cancel) an authorized payment,
but rejecting a captured one refunds it, which needs finance's refund permission — support has
no path to a refund. Driven through the admin action, with the live simulator behind payments."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from fraud import services
from fraud.models import ReviewItem
from merchants.roles import FINANCE, SUPPORT, sync_staff_groups
from tests.payments import conftest as payment_fixtures

tokenize = payment_fixtures.tokenize
pay = payment_fixtures.pay

pytestmark = pytest.mark.django_db


def agent(username: str, *groups: str, extra: tuple[str, ...] = ()) -> Client:
    """A client signed in (password and second factor) as a staff member of `groups`."""
    sync_staff_groups()
    user = get_user_model().objects.create_user(
        username, password="unused-password-123", is_staff=True
    )
    user.groups.set(Group.objects.filter(name__in=groups))
    for name in extra:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def reject(client: Client, item: ReviewItem):
    return client.post(
        "/admin/fraud/reviewitem/",
        {"action": "reject", "_selected_action": [item.pk], "apply": "1", "reason": "stolen"},
        follow=True,
    )


@pytest.fixture
def in_review(api, pay):
    """A payment the review rule holds in the queue; `captured=True` captures it first."""
    services.create_rule(name="look_big", expression="amount_ref >= 70000", action="review")

    def make(*, captured: bool) -> tuple[str, ReviewItem]:
        payment = pay(amount=80_000).json()
        assert payment["fraud"]["decision"] == "review", payment
        if captured:
            response = api.post(f"/api/payments/{payment['id']}/capture", {}, format="json")
            assert response.json()["status"] == "captured", response.content
        return payment["id"], ReviewItem.objects.get(payment_id=payment["id"])

    return make


def test_support_cannot_refund_a_captured_payment_from_the_review_queue(api, in_review):
    payment_id, item = in_review(captured=True)
    response = reject(agent("sam", SUPPORT), item)

    assert "needs the refund permission" in response.content.decode()
    payment = api.get(f"/api/payments/{payment_id}").json()
    assert (payment["status"], payment["amount_refunded"]) == ("captured", 0)
    item.refresh_from_db()
    assert item.status == "reject_failed"
    assert "refund permission" in item.last_error


def test_support_may_still_cancel_an_authorized_payment_from_the_queue(api, in_review):
    payment_id, item = in_review(captured=False)
    reject(agent("sam", SUPPORT), item)

    assert api.get(f"/api/payments/{payment_id}").json()["status"] == "canceled"
    item.refresh_from_db()
    assert item.status == "rejected"


def test_an_agent_with_the_refund_permission_refunds_the_captured_payment(api, in_review):
    payment_id, item = in_review(captured=True)
    # Finance's refund permission plus the queue's review permission.
    reject(agent("fiona", FINANCE, extra=("fraud.review_assessment",)), item)

    payment = api.get(f"/api/payments/{payment_id}").json()
    assert (payment["status"], payment["amount_refunded"]) == ("refunded", 80_000)
    item.refresh_from_db()
    assert item.status == "rejected"
