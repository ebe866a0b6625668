"""Concurrency against real PostgreSQL with real threads: idempotent creates, refunds that never
exceed the capture, and a capture racing a cancel."""

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from ledger import selectors as ledger_selectors
from payments.models import Payment, Refund
from tests.conftest import client_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run_together(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `count` threads released at the same instant; each has its own
    database connection."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def runner(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # surfaced through the results, asserted by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_fifty_identical_creates_with_one_key_make_one_payment(merchant, tokenize, providers):
    token = tokenize()
    body = {"token": token, "amount": 7700, "currency": "eur"}

    def create(_: int):
        response = client_for(merchant.secret).post(
            "/api/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="order-7700"
        )
        return response.status_code, response.get("Idempotent-Replayed", ""), response.json()

    results = run_together(50, create)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {201, 409}
    executed = [body for status, replayed, body in results if status == 201 and not replayed]
    assert len(executed) == 1
    assert Payment.objects.count() == 1
    authorizations = providers.records("sim-a") + providers.records("sim-b")
    assert len(authorizations) == 1
    replay = client_for(merchant.secret).post(
        "/api/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="order-7700"
    )
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == executed[0]["id"]


def test_twenty_concurrent_refunds_of_ten_on_a_capture_of_one_hundred(
    merchant, tokenize, providers
):
    api = client_for(merchant.secret)
    payment = api.post(
        "/api/payments",
        {"token": tokenize(), "amount": 100, "currency": "eur", "capture": True},
        format="json",
    ).json()
    assert payment["status"] == "captured"

    def refund(_: int):
        response = client_for(merchant.secret).post(
            f"/api/payments/{payment['id']}/refund", {"amount": 10}, format="json"
        )
        return response.status_code, response.json()

    results = run_together(20, refund)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 10, 400: 10}
    refused = {body["error"]["code"] for status, body in results if status == 400}
    assert refused <= {"amount_too_large", "payment_invalid_state"}
    assert Refund.objects.filter(payment_id=payment["id"]).count() == 10
    final = api.get(f"/api/payments/{payment['id']}").json()
    assert (final["status"], final["amount_refunded"]) == ("refunded", 100)
    summary = ledger_selectors.payment_summary(payment_id=payment["id"])
    assert (summary.refunded_minor, summary.balanced) == (100, True)


def test_capture_racing_cancel_one_wins_the_other_gets_400(merchant, tokenize, providers):
    for round_ in range(3):
        api = client_for(merchant.secret)
        payment = api.post(
            "/api/payments",
            {"token": tokenize(), "amount": 900, "currency": "eur"},
            format="json",
        ).json()

        def act(index: int):
            action = "capture" if index == 0 else "cancel"
            response = client_for(merchant.secret).post(
                f"/api/payments/{payment['id']}/{action}", {}, format="json"
            )
            return action, response.status_code, response.json()

        results = run_together(2, act)
        outcomes = sorted((action, status) for action, status, _ in results)
        winners = [action for action, status in outcomes if status == 200]
        losers = [body for _, status, body in results if status == 400]
        assert len(winners) == 1, (round_, outcomes)
        assert losers[0]["error"]["code"] == "payment_invalid_state"
        final = api.get(f"/api/payments/{payment['id']}").json()
        assert final["status"] == {"capture": "captured", "cancel": "canceled"}[winners[0]]
        summary = ledger_selectors.payment_summary(payment_id=payment["id"])
        assert summary.balanced
        assert summary.captured_minor == final["amount_captured"]
        assert summary.held_minor == 0
