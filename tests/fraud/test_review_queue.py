"""The review queue: approve or reject with who and why; rejecting cancels/refunds through the
handler payments registers and blocklists the card, email and IP — once, even when two agents
reject at the same moment; the handler (the PSP call) runs outside fraud's transaction, and a
failure of it leaves the item for an agent to retry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from core.errors import InvalidRequest, InvalidState
from fraud import hooks, selectors, services
from fraud.models import ListEntry, ReviewItem
from tests.fraud.conftest import make_request


def open_review(**overrides) -> ReviewItem:
    services.create_rule(name="review_big", expression="amount_ref >= 100000", action="review")
    request = make_request(amount_minor=120_000, **overrides)
    assert services.assess(request=request).decision == "review"
    return ReviewItem.objects.get(payment_id=request.payment_id)


@pytest.mark.django_db
def test_reject_cancels_through_the_registered_handler_and_blocklists(reject_handler):
    item = open_review(card_fingerprint="fp_rev", email="Thief@Example.com", ip="198.51.100.7")
    services.reject_review(review_id=item.pk, actor="admin:agent1", reason="chargeback history")
    assert reject_handler.calls == [(item.payment_id, "admin:agent1", "chargeback history")]
    item.refresh_from_db()
    assert item.status == "rejected"
    assert (item.decided_by, item.reason) == ("admin:agent1", "chargeback history")
    assert item.decided_at is not None
    assert item.action_taken.startswith("canceled")
    listed = set(ListEntry.objects.filter(list="block").values_list("kind", "value"))
    assert listed == {("card", "fp_rev"), ("email", "thief@example.com"), ("ip", "198.51.100.7")}
    # The fraudster's next attempt is blocked.
    again = services.assess(request=make_request(card_fingerprint="fp_rev", ip="8.8.4.4"))
    assert again.decision == "block"
    assert "blocklisted" in again.rules


@pytest.mark.django_db
def test_reject_reports_a_refund_when_the_payment_was_captured(reject_handler):
    reject_handler.answer = "refunded"
    item = open_review()
    decided = services.reject_review(review_id=item.pk, actor="admin:agent1", reason="stolen")
    assert decided.action_taken.startswith("refunded")


@pytest.mark.django_db
def test_approve_records_who_and_why_and_a_second_decision_is_refused(reject_handler):
    item = open_review()
    services.approve_review(review_id=item.pk, actor="admin:agent2", reason="known customer")
    item.refresh_from_db()
    assert (item.status, item.decided_by, item.reason) == (
        "approved",
        "admin:agent2",
        "known customer",
    )
    with pytest.raises(InvalidState):
        services.reject_review(review_id=item.pk, actor="admin:agent3", reason="changed my mind")
    assert reject_handler.calls == []


@pytest.mark.django_db
def test_a_decision_without_a_reason_is_refused(reject_handler):
    item = open_review()
    with pytest.raises(InvalidRequest):
        services.reject_review(review_id=item.pk, actor="admin:agent1", reason="   ")
    item.refresh_from_db()
    assert item.status == "open"
    assert reject_handler.calls == []


@pytest.mark.django_db
def test_reject_without_a_registered_handler_changes_nothing():
    previous = list(hooks._reject_handlers)
    hooks.unregister_reject_handler()
    try:
        item = open_review()
        with pytest.raises(hooks.NoRejectHandler):
            services.reject_review(review_id=item.pk, actor="admin:a", reason="fraud")
    finally:
        hooks._reject_handlers[:] = previous
    item.refresh_from_db()
    assert item.status == "open"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_agents_rejecting_at_once_cancel_the_payment_only_once(reject_handler):
    item = open_review()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def agent(name: str) -> None:
        barrier.wait()
        try:
            services.reject_review(review_id=item.pk, actor=f"admin:{name}", reason="fraud")
            outcomes.append("rejected")
        except InvalidState:
            outcomes.append("already decided")
        finally:
            connection.close()

    threads = [threading.Thread(target=agent, args=(n,)) for n in ("a1", "a2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["already decided", "rejected"]
    assert len(reject_handler.calls) == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_handler_runs_outside_any_transaction_after_decision_and_blocklist_are_committed(
    reject_handler,
):
    item = open_review(card_fingerprint="fp_outside", email="out@example.com", ip="203.0.113.9")
    seen: dict[str, object] = {}

    def look_from_another_connection() -> None:
        try:
            # NOWAIT: raises at once if the reject still held the item's row lock.
            row = ReviewItem.objects.select_for_update(nowait=True)
            with transaction.atomic():
                seen["status"] = row.get(pk=item.pk).status
            seen["listed"] = ListEntry.objects.filter(list="block").count()
        except Exception as error:  # reported through `seen`, asserted below
            seen["error"] = repr(error)
        finally:
            connection.close()

    def handler(payment_id: str, actor: str, reason: str) -> str:
        seen["in_transaction"] = connection.in_atomic_block
        other = threading.Thread(target=look_from_another_connection)
        other.start()
        other.join(timeout=10)
        return "refunded"

    hooks.register_reject_handler(handler)
    decided = services.reject_review(review_id=item.pk, actor="admin:agent1", reason="stolen")
    assert seen == {"in_transaction": False, "status": "rejecting", "listed": 3}
    assert decided.status == "rejected"
    assert decided.action_taken == "refunded; blocklisted card, email, ip"


@pytest.mark.django_db
def test_a_failing_handler_leaves_the_blocklist_and_an_item_an_agent_can_retry(reject_handler):
    item = open_review(card_fingerprint="fp_retry", email="retry@example.com", ip="203.0.113.10")
    reject_handler.error = RuntimeError("ledger posting failed after the provider refunded")
    with pytest.raises(RuntimeError, match="ledger posting failed"):
        services.reject_review(review_id=item.pk, actor="admin:agent1", reason="stolen")
    item.refresh_from_db()
    assert item.status == "reject_failed"
    assert (item.decided_by, item.reason) == ("admin:agent1", "stolen")
    assert "ledger posting failed" in item.last_error
    assert item.action_taken.startswith("reject failed (retry)")
    assert ListEntry.objects.filter(list="block").count() == 3
    assert selectors.open_review_count() == 1
    # Approving is no longer possible: the customer was blocklisted as a fraudster.
    with pytest.raises(InvalidState):
        services.approve_review(review_id=item.pk, actor="admin:agent2", reason="oops")

    reject_handler.error = None
    reject_handler.answer = "refunded"
    decided = services.reject_review(review_id=item.pk, actor="admin:agent2", reason="retry")
    assert (decided.status, decided.decided_by, decided.last_error) == (
        "rejected",
        "admin:agent2",
        "",
    )
    assert decided.action_taken == "refunded; blocklisted card, email, ip"
    assert len(reject_handler.calls) == 2
    assert ListEntry.objects.filter(list="block").count() == 3
    assert selectors.open_review_count() == 0


@pytest.mark.django_db
def test_a_rejection_in_flight_is_refused_until_its_process_is_presumed_dead(reject_handler):
    item = open_review()
    ReviewItem.objects.filter(pk=item.pk).update(
        status="rejecting",
        decided_by="admin:agent1",
        decided_at=timezone.now(),
        rejecting_since=timezone.now(),
    )
    with pytest.raises(InvalidState):
        services.reject_review(review_id=item.pk, actor="admin:agent2", reason="fraud")
    assert reject_handler.calls == []

    long_ago = timezone.now() - timedelta(seconds=services.REJECTING_STALE_S + 1)
    ReviewItem.objects.filter(pk=item.pk).update(rejecting_since=long_ago)
    decided = services.reject_review(review_id=item.pk, actor="admin:agent2", reason="fraud")
    assert decided.status == "rejected"
    assert len(reject_handler.calls) == 1
