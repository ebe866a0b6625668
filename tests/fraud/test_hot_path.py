"""The fraud decision on the payments hot path, seen through the API and the live simulator:
block → 402 fraudulent with no provider call; challenge → requires_action (3-D Secure);
review → the payment proceeds and waits in the queue, where rejecting cancels it."""

from __future__ import annotations

import pytest

from fraud import hooks, services
from fraud.models import ReviewItem
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
