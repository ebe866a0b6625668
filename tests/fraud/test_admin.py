"""The back office: a bad rule is refused by the form, preview reports how often a rule fires,
support agents with `fraud.review_assessment` approve/reject with a reason; others cannot."""

from __future__ import annotations

import time

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from fraud import services
from fraud.models import Assessment, ReviewItem, Rule
from tests.fraud.conftest import make_request

pytestmark = pytest.mark.django_db
PASSWORD = "fraud-test-pass-1"


def staff_client(username: str, *, superuser: bool = False, perms: tuple[str, ...] = ()) -> Client:
    """A browser signed in to the admin with password and a current TOTP code."""
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, is_staff=True, is_superuser=superuser
    )
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": username,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": f"{totp.token():06d}",
        },
    )
    assert response.status_code == 302, response.content[:500]
    return client


def rule_form(**overrides) -> dict:
    return {
        "name": "new_rule",
        "description": "",
        "expression": "amount > 100",
        "action": "review",
        "weight": 10,
        "priority": 100,
        "enabled": "on",
        "merchant_id": "",
        **overrides,
    }


def test_rule_with_a_bad_expression_is_refused_by_the_admin_form():
    client = staff_client("root", superuser=True)
    response = client.post("/admin/fraud/rule/add/", rule_form(expression="amount >"))
    assert response.status_code == 200
    assert "CEL syntax error" in response.content.decode()
    assert not Rule.objects.filter(name="new_rule").exists()
    response = client.post("/admin/fraud/rule/add/", rule_form())
    assert response.status_code == 302
    assert Rule.objects.get(name="new_rule").expression == "amount > 100"


def test_preview_action_reports_how_many_recent_assessments_a_rule_would_fire_on():
    for number, amount in enumerate((100, 60_000, 70_000)):
        services.assess(request=make_request(amount_minor=amount, card_fingerprint=f"fp{number}"))
    rule = services.create_rule(name="big_one", expression="amount_ref >= 50000", action="review")
    client = staff_client("root", superuser=True)
    asked = client.post("/admin/fraud/rule/", {"action": "preview", "_selected_action": [rule.pk]})
    assert "last N assessments" in asked.content.decode()
    response = client.post(
        "/admin/fraud/rule/",
        {"action": "preview", "_selected_action": [rule.pk], "apply": "1", "limit": 100},
        follow=True,
    )
    page = response.content.decode()
    # (the admin capitalizes a message's first letter)
    assert "ig_one (review) would fire on 2 of the last 3 assessments" in page


def open_item() -> ReviewItem:
    services.create_rule(name="review_big", expression="amount_ref >= 100000", action="review")
    request = make_request(amount_minor=120_000)
    services.assess(request=request)
    return ReviewItem.objects.get(payment_id=request.payment_id)


def test_support_agent_rejects_with_a_reason_from_the_queue(reject_handler):
    item = open_item()
    agent = staff_client("agent", perms=("review_assessment",))
    assert agent.get("/admin/fraud/reviewitem/").status_code == 200
    asked = agent.post(
        "/admin/fraud/reviewitem/", {"action": "reject", "_selected_action": [item.pk]}
    )
    assert 'name="reason"' in asked.content.decode()
    agent.post(
        "/admin/fraud/reviewitem/",
        {"action": "reject", "_selected_action": [item.pk], "apply": "1", "reason": "stolen card"},
        follow=True,
    )
    item.refresh_from_db()
    assert (item.status, item.decided_by, item.reason) == ("rejected", "admin:agent", "stolen card")
    assert reject_handler.calls == [(item.payment_id, "admin:agent", "stolen card")]


def test_staff_without_the_review_permission_cannot_decide(reject_handler):
    item = open_item()
    other = staff_client("clerk", perms=("view_reviewitem",))
    other.post(
        "/admin/fraud/reviewitem/",
        {"action": "approve", "_selected_action": [item.pk], "apply": "1", "reason": "ok"},
    )
    item.refresh_from_db()
    assert item.status == "open"


def test_assessments_are_listed_read_only():
    request = make_request()
    services.assess(request=request)
    client = staff_client("root", superuser=True)
    page = client.get("/admin/fraud/assessment/").content.decode()
    assert request.payment_id in page
    assert client.get("/admin/fraud/assessment/add/").status_code == 403
    assessment = Assessment.objects.get(payment_id=request.payment_id)
    # Admin URLs escape "_" in primary keys (fa_…), as its own links do.
    detail = client.get(reverse("admin:fraud_assessment_change", args=[quote(assessment.pk)]))
    assert detail.status_code == 200
    assert "card_first_seen_s" in detail.content.decode()
