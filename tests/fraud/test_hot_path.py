"""The fraud decision on the payments hot path, seen through the API and the live simulator:
block → 402 fraudulent with no provider call; challenge → requires_action (3-D Secure);
review → the payment proceeds and waits in the queue, where rejecting cancels it (or, once
captured, refunds it through payments, with the ledger agreeing)."""

from __future__ import annotations

import pytest

from fraud import hooks, services
from fraud.models import ListEntry, ReviewItem
from ledger.selectors import payment_summary
from tests.payments import conftest as payment_fixtures

# The payments suite's fixtures (tokenized cards, `pay`); `providers` is a global fixture plugin.
tokenize = payment_fixtures.tokenize
pay = payment_fixtures.pay
FRAUD_CARD = payment_fixtures.FRAUD_CARD

pytestmark = pytest.mark.django_db


def test_blocked_payment_is_402_fraudulent_and_never_reaches_a_provider(api, pay, providers):
    services.add_list_entry(kind="email", value="thief@example.com")
    response = pay(customer={"email": "thief@example.com"})
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["decline_code"]) == ("card_error", "fraudulent")
    assert error["payment"]["status"] == "failed"
    assert error["payment"]["fraud"] == {
        "score": 100,
        "decision": "block",
        "rules": ["blocklisted"],
    }
    assert error["payment"]["provider"] in (None, "")


def test_simulator_fraud_card_is_blocked_by_the_default_rules(api, pay):
    response = pay(number=FRAUD_CARD)
    assert response.status_code == 402
    assert response.json()["error"]["payment"]["fraud"]["rules"] == ["simulator_fraud_card"]


def test_challenge_steps_up_to_three_d_secure(api, pay):
    services.create_rule(name="step_up_big", expression="amount_ref >= 70000", action="challenge")
    response = pay(amount=80_000)
    assert response.status_code in (200, 201), response.content
    payment = response.json()
    assert payment["status"] == "requires_action"
    assert payment["fraud"]["decision"] == "challenge"


def test_review_lets_the_payment_proceed_and_rejecting_it_cancels(api, pay):
    from payments.services import reject_for_fraud

    services.create_rule(name="look_big", expression="amount_ref >= 70000", action="review")
    payment = pay(amount=80_000).json()
    assert payment["status"] == "authorized"
    assert payment["fraud"]["decision"] == "review"
    item = ReviewItem.objects.get(payment_id=payment["id"])
    previous = list(hooks._reject_handlers)
    hooks.register_reject_handler(reject_for_fraud)
    try:
        services.reject_review(review_id=item.pk, actor="admin:agent", reason="stolen card")
    finally:
        hooks._reject_handlers[:] = previous
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "canceled"


def test_rejecting_a_captured_review_payment_refunds_it_and_blocklists_the_customer(api, pay):
    from payments.services import reject_for_fraud

    services.create_rule(name="look_big", expression="amount_ref >= 70000", action="review")
    response = pay(amount=80_000, customer={"email": "Mule@Example.com", "ip": "203.0.113.77"})
    payment = response.json()
    assert payment["fraud"]["decision"] == "review", payment
    captured = api.post(f"/api/payments/{payment['id']}/capture", {}, format="json")
    assert captured.status_code == 200, captured.content
    assert captured.json()["status"] == "captured"
    item = ReviewItem.objects.get(payment_id=payment["id"])
    previous = list(hooks._reject_handlers)
    hooks.register_reject_handler(reject_for_fraud)
    try:
        decided = services.reject_review(review_id=item.pk, actor="admin:agent", reason="mule")
    finally:
        hooks._reject_handlers[:] = previous

    assert (decided.status, decided.action_taken) == (
        "rejected",
        "refunded; blocklisted card, email, ip",
    )
    final = api.get(f"/api/payments/{payment['id']}").json()
    assert (final["status"], final["amount_captured"], final["amount_refunded"]) == (
        "refunded",
        80_000,
        80_000,
    )
    summary = payment_summary(payment_id=payment["id"])
    assert (summary.captured_minor, summary.refunded_minor, summary.held_minor) == (
        80_000,
        80_000,
        0,
    )
    assert summary.balanced
    fingerprint = payment["payment_method"]["card"]["fingerprint"]
    listed = set(ListEntry.objects.filter(list="block").values_list("kind", "value"))
    assert listed == {("card", fingerprint), ("email", "mule@example.com"), ("ip", "203.0.113.77")}
    # The same card, now with another email and IP, is blocked before any provider is asked.
    again = pay(number=payment_fixtures.GOOD_CARD, amount=1_000)
    assert again.status_code == 402
    assert again.json()["error"]["payment"]["fraud"]["rules"] == ["blocklisted"]
