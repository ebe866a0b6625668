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
        services.reject_review(
            review_id=item.pk, actor="admin:agent", reason="stolen card", refund_allowed=False
        )
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
        decided = services.reject_review(
            review_id=item.pk, actor="admin:agent", reason="mule", refund_allowed=True
        )
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


def test_a_late_decline_counts_in_redis_only_once_its_booking_commits(
    pay, redis_store, django_capture_on_commit_callbacks
):
    """A provider webhook books its answer inside the webhook's own transaction: a decline must
    not reach Redis velocity if that transaction then rolls back."""
    from django.db import transaction

    from fraud import velocity
    from fraud.models import Assessment
    from payments import services as payment_services
    from payments.models import Payment
    from routing.interface import Outcome

    pending = pay(amount=2000, number=payment_fixtures.THREE_DS_CARD).json()
    assert pending["status"] == "requires_action"
    payment = Payment.objects.get(pk=pending["id"])
    card = Assessment.objects.get(payment_id=payment.id).card_fingerprint
    declines = velocity._declines_key("card", card)

    def decline() -> Payment:
        return payment_services.apply_late_answer(
            payment_id=payment.id,
            outcome=Outcome.HARD_DECLINE,
            provider=payment.provider,
            attempt_id=payment.attempt_id,
            provider_reference=payment.provider_reference,
            decline_code="do_not_honor",
            message="",
            redirect_url="",
            actor=payment_services.Actor.system("webhook:test"),
        )

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert decline().status == "failed"
        raise RuntimeError("the webhook's transaction fails after booking the answer")
    assert Payment.objects.get(pk=payment.id).status == "requires_action"
    assert redis_store.zcard(declines) == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert decline().status == "failed"
    assert redis_store.zcard(declines) == 1
