"""The payments API over its whole life: authorize, capture, refund, cancel, decline, 3-D Secure,
each path checked against the payment's own ledger."""

import re
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fraud.models import Assessment
from ledger import selectors as ledger_selectors
from payments.models import Payment, PaymentEvent
from payments.services import expire_authorizations
from routing.models import Attempt
from tests.conftest import client_for
from tests.payments.conftest import (
    DECLINE_CARD,
    FRAUD_CARD,
    GOOD_CARD,
    INSUFFICIENT_FUNDS_CARD,
    THREE_DS_CARD,
    distinct_card,
    ledger_of,
)
from tokenization.models import DetokenizationEvent

pytestmark = pytest.mark.django_db


def assert_ledger_agrees(api, payment: dict) -> dict:
    """The payment's ledger balances and says what the payment says."""
    ledger = ledger_of(api, payment["id"])
    assert ledger["balanced"] is True
    summary = ledger_selectors.payment_summary(payment_id=payment["id"])
    assert summary.balanced
    assert summary.captured_minor == payment["amount_captured"]
    assert summary.refunded_minor == payment["amount_refunded"]
    assert summary.held_minor == payment["amount_capturable"]
    by_currency: dict[str, int] = {}
    for entry in ledger["data"]:
        assert (entry["debit"] > 0) != (entry["credit"] > 0)
        by_currency[entry["currency"]] = (
            by_currency.get(entry["currency"], 0) + entry["debit"] - entry["credit"]
        )
    assert all(total == 0 for total in by_currency.values())
    return ledger


def test_authorize_returns_the_payment_object(api, pay):
    response = pay(amount=2500, currency="eur", metadata={"order": "1001"})
    assert response.status_code == 201, response.content
    payment = response.json()
    assert payment["id"].startswith("pay_")
    assert payment["object"] == "payment"
    assert payment["status"] == "authorized"
    assert (payment["amount"], payment["amount_capturable"]) == (2500, 2500)
    assert (payment["amount_captured"], payment["amount_refunded"]) == (0, 0)
    assert payment["currency"] == "EUR"
    assert payment["payment_method"]["type"] == "card"
    assert payment["payment_method"]["card"]["last4"] == "4242"
    assert payment["payment_method"]["card"]["brand"] == "visa"
    assert payment["provider"] in ("sim-a", "sim-b")
    assert payment["provider_reference"]
    assert payment["fraud"]["decision"] in ("allow", "review")
    assert 0 <= payment["fraud"]["score"] <= 100
    assert payment["metadata"] == {"order": "1001"}
    assert payment["livemode"] is False
    assert "4242424242424242" not in response.content.decode()
    assert_ledger_agrees(api, payment)
    assert api.get(f"/api/payments/{payment['id']}").json() == payment


def test_full_capture(api, pay):
    payment = pay(amount=5000).json()
    captured = api.post(f"/api/payments/{payment['id']}/capture", {}, format="json")
    assert captured.status_code == 200, captured.content
    body = captured.json()
    assert body["status"] == "captured"
    assert (body["amount_captured"], body["amount_capturable"]) == (5000, 0)
    assert_ledger_agrees(api, body)


def test_partial_capture_releases_the_rest(api, pay):
    payment = pay(amount=10_000).json()
    body = api.post(
        f"/api/payments/{payment['id']}/capture", {"amount": 6000}, format="json"
    ).json()
    assert body["status"] == "captured"
    assert (body["amount_captured"], body["amount_capturable"]) == (6000, 0)
    summary = ledger_selectors.payment_summary(payment_id=payment["id"])
    assert summary.held_minor == 0
    assert_ledger_agrees(api, body)


def test_capture_beyond_the_authorization_is_refused(api, pay):
    payment = pay(amount=1000).json()
    response = api.post(f"/api/payments/{payment['id']}/capture", {"amount": 1001}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "authorized"


def test_partial_and_repeated_refunds_never_exceed_the_capture(api, pay):
    payment = pay(amount=10_000).json()
    api.post(f"/api/payments/{payment['id']}/capture", {"amount": 8000}, format="json")
    first = api.post(f"/api/payments/{payment['id']}/refund", {"amount": 3000}, format="json")
    assert first.status_code == 200, first.content
    refund = first.json()
    assert refund["id"].startswith("re_") and refund["object"] == "refund"
    assert (refund["amount"], refund["status"]) == (3000, "succeeded")
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert (body["status"], body["amount_refunded"]) == ("partially_refunded", 3000)
    too_much = api.post(f"/api/payments/{payment['id']}/refund", {"amount": 5001}, format="json")
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    rest = api.post(f"/api/payments/{payment['id']}/refund", {}, format="json").json()
    assert rest["amount"] == 5000
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert (body["status"], body["amount_refunded"]) == ("refunded", 8000)
    assert_ledger_agrees(api, body)
    again = api.post(f"/api/payments/{payment['id']}/refund", {"amount": 1}, format="json")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_invalid_state"


def test_cancel_voids_the_authorization(api, pay, providers):
    payment = pay(amount=4200).json()
    response = api.post(f"/api/payments/{payment['id']}/cancel", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["amount_capturable"]) == ("canceled", 0)
    assert_ledger_agrees(api, body)
    record = next(
        r for r in providers.records(body["provider"]) if r["id"] == body["provider_reference"]
    )
    assert record["status"] in ("voided", "canceled")


@pytest.mark.parametrize(
    ("action", "body"),
    [("capture", {}), ("refund", {"amount": 10}), ("cancel", {})],
)
def test_illegal_transitions_answer_payment_invalid_state(api, pay, action, body):
    payment = pay(amount=1000).json()
    api.post(f"/api/payments/{payment['id']}/cancel", {}, format="json")
    response = api.post(f"/api/payments/{payment['id']}/{action}", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "payment_invalid_state")


def test_refund_before_capture_is_an_invalid_state(api, pay):
    payment = pay(amount=1000).json()
    response = api.post(f"/api/payments/{payment['id']}/refund", {"amount": 10}, format="json")
    assert response.json()["error"]["code"] == "payment_invalid_state"


@pytest.mark.parametrize(
    ("number", "decline_code"),
    [(DECLINE_CARD, "generic_decline"), (INSUFFICIENT_FUNDS_CARD, "insufficient_funds")],
)
def test_a_decline_is_402_with_the_failed_payment_inside(api, pay, number, decline_code):
    response = pay(amount=1500, number=number)
    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert error["type"] == "card_error"
    assert error["decline_code"] == decline_code
    failed = error["payment"]
    assert failed["status"] == "failed"
    assert failed["decline_code"] == decline_code
    assert failed["failure_code"] == "card_declined"
    assert failed["failure_message"]
    stored = api.get(f"/api/payments/{failed['id']}").json()
    assert stored["status"] == "failed"
    assert_ledger_agrees(api, stored)
    assert ledger_of(api, failed["id"])["data"] == []


def _writes_naming(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if f'"{table}"' in q["sql"] and not q["sql"].lstrip(" (\n").startswith("SELECT")
    ]


# Another app's table, as the ORM quotes it (a column such as "fraud_assessment_id" is not one).
OTHER_APPS_TABLE = re.compile(r'"(routing|fraud|merchants|ledger|tokenization)_[a-z]+"')


def test_the_provider_s_answer_reaches_fraud_in_the_transaction_that_books_it(api, pay):
    """fraud stores its assessment and its record of the outcome (what "declines in the last
    hour" counts) itself, each in a statement of its own, the outcome in the booking's
    transaction; and a decline is counted."""
    with CaptureQueriesContext(connection) as queries:
        sold = pay(amount=2100, capture=True).json()
    booked = Assessment.objects.get(payment_id=sold["id"])
    assert (booked.approved, booked.decline_code) == (True, "")
    assert booked.outcome_at is not None
    writes = _writes_naming(queries, "fraud_assessment")
    assert [sql.split()[0] for sql in writes] == ["WITH", "UPDATE"]  # assessed, then told
    assert not [sql for sql in writes if '"payments"' in sql or '"routing_' in sql]
    statements = [q["sql"] for q in queries.captured_queries]
    (booking,) = [sql for sql in statements if sql.startswith('WITH u AS (UPDATE "payments"')]
    assert statements.index(booking) < statements.index(writes[1])

    declined = pay(amount=1500, number=DECLINE_CARD).json()["error"]["payment"]
    stored = Assessment.objects.get(payment_id=declined["id"])
    assert (stored.approved, stored.decline_code) == (False, "generic_decline")
    again = pay(amount=1500, number=DECLINE_CARD).json()["error"]["payment"]
    features = Assessment.objects.get(payment_id=again["id"]).features
    assert features["declines_1h"] >= 1  # the first decline was counted


def test_an_approved_attempt_is_completed_by_routing_before_the_booking(api, pay):
    with CaptureQueriesContext(connection) as queries:
        sold = pay(amount=2200, capture=True).json()
    attempt = Attempt.objects.get(pk=Payment.objects.get(pk=sold["id"]).attempt_id)
    assert (attempt.outcome, attempt.provider_reference) == ("approved", sold["provider_reference"])
    assert attempt.resolved_at is not None
    opened, completed = _writes_naming(queries, "routing_attempt")
    assert opened.startswith("WITH") and "routing_decision" in opened  # with its decision
    assert completed.startswith('UPDATE "routing_attempt"') and '"payments"' not in completed


@pytest.mark.parametrize(
    ("number", "status", "http_status"),
    [(GOOD_CARD, "captured", 201), (DECLINE_CARD, "failed", 402)],
)
def test_a_card_payment_reads_its_token_once_and_the_vault_audits_it_before_the_attempt(
    api, tokenize, providers, merchant, number, status, http_status
):
    """The payment's one read of its token brings the card sealed for routing (no second
    read), and the vault writes its audit of the card sent to the provider in a statement of
    its own, before the attempt is opened and the provider called."""
    token_id = tokenize(number)
    with CaptureQueriesContext(connection) as queries:
        response = api.post(
            "/api/payments",
            {"token": token_id, "amount": 2400, "currency": "eur", "capture": True},
            format="json",
        )
    assert response.status_code == http_status, response.content
    body = response.json()
    payment = body if http_status == 201 else body["error"]["payment"]
    assert payment["status"] == status
    statements = [q["sql"] for q in queries.captured_queries]
    token_reads = [sql for sql in statements if '"tokenization_token"' in sql]
    assert len(token_reads) == 1 and token_reads[0].startswith("SELECT")
    (audit_write,) = [sql for sql in statements if "tokenization_detokenizationevent" in sql]
    (attempt_opened,) = [
        sql for sql in statements if "routing_attempt" in sql and "routing_decision" in sql
    ]
    assert "routing_" not in audit_write
    assert statements.index(audit_write) < statements.index(attempt_opened)

    attempt = Attempt.objects.get(payment_id=payment["id"], kind="authorize")
    (sent,) = [r for r in providers.records(attempt.provider) if r["reference"] == attempt.id]
    assert sent["card"]["last4"] == number[-4:]
    (event,) = DetokenizationEvent.objects.filter(token_id=token_id)
    assert (event.merchant_id, event.livemode) == (merchant.merchant.pk, False)
    assert (event.actor, event.purpose, event.cvc_consumed) == ("routing", "authorization", True)
    assert event.outcome == "opened"


@pytest.mark.django_db(transaction=True)  # on-commit work runs when the booking commits
def test_an_approval_for_a_payment_that_moved_on_is_recorded_and_refunded_there(
    api, pay, providers, monkeypatch
):
    """Between the provider's answer and the booking the payment failed (an operator, a
    timeout elsewhere): nothing is booked, the attempt and fraud still learn the answer, and
    the sale the provider made is refunded there (which needs the attempt approved first)."""
    from payments import services as payment_services
    from payments.services.authorization import apply_failure
    from routing import services as routing_services

    real_authorize = routing_services.authorize

    def authorize_then_fail(*, request, **kwargs):
        outcome = real_authorize(request=request, **kwargs)
        apply_failure(
            request.payment_id, actor=payment_services.Actor("test"), code="card_declined",
            decline_code="generic_decline", message="failed meanwhile", reason="test",
        )  # fmt: skip
        return outcome

    monkeypatch.setattr(routing_services, "authorize", authorize_then_fail)
    response = pay(amount=2300, capture=True)

    failed = response.json()["error"]["payment"]
    attempt = Attempt.objects.get(payment_id=failed["id"], kind="authorize")
    assert (attempt.outcome, attempt.resolved_at is not None) == ("approved", True)
    assert Assessment.objects.get(payment_id=failed["id"]).outcome_at is not None
    (record,) = [r for r in providers.records(attempt.provider) if r["reference"] == attempt.id]
    assert (record["amount_captured"], record["amount_refunded"]) == (2300, 2300)
    assert ledger_of(api, failed["id"])["data"] == []


def test_a_new_sale_is_booked_without_reading_its_payment_again(api, pay):
    """The payment is still as create_payment stored it: saved as captured only if so (a
    compare-and-set, no locked read) with both events in one statement; then, in the same
    transaction, the ledger's postings (one statement of the ledger's)."""
    with CaptureQueriesContext(connection) as queries:
        sold = pay(amount=2600, capture=True).json()
    assert sold["status"] == "captured"
    naming_payments = [q["sql"] for q in queries.captured_queries if '"payments"' in q["sql"]]
    assert not [sql for sql in naming_payments if "FOR UPDATE" in sql]
    inserted, booked = naming_payments  # stored with its first event, then the booking
    assert inserted.startswith('WITH i0 AS (INSERT INTO "payments"')
    assert booked.startswith('WITH u AS (UPDATE "payments"') and "payments_paymentevent" in booked
    assert not OTHER_APPS_TABLE.search(inserted) and not OTHER_APPS_TABLE.search(booked)
    assert "ledger_post_sale(" not in booked
    statements = [q["sql"] for q in queries.captured_queries]
    (posted,) = [sql for sql in statements if "ledger_post_sale(" in sql]
    assert statements.index(booked) < statements.index(posted)
    events = PaymentEvent.objects.filter(payment_id=sold["id"]).order_by("created", "pk")
    assert [e.to_status for e in events] == ["processing", "authorized", "captured"]
    assert_ledger_agrees(api, sold)


# What a request costs beyond the payment's own work: authentication, rate limiting, savepoints
# (a test runs inside a transaction) and the ledger's account lookups (cached once a creating
# transaction commits, which a test's never does).
_OVERHEAD = ("SAVEPOINT", "RELEASE", "qr_cache", "merchants_apikey", "ledger_ensure_account")


def _payment_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if not any(o in q["sql"] for o in _OVERHEAD)]


def test_a_sale_and_an_authorization_with_its_capture_cost_a_bounded_number_of_statements(
    api, tokenize, providers
):
    """The statement budget of the hot path, each app doing its own reads and writes: a sale
    14 (token, fraud's reads (3) and assessment, the payment, earlier attempts, the vault's
    audit, the attempt and its completion, the booking, the ledger's sale, fraud's outcome,
    the webhook endpoints); an authorization 17 and its capture 13."""
    warm, sale_token = tokenize(distinct_card(900)), tokenize(distinct_card(901))
    auth_token = tokenize(distinct_card(902))
    # The first payment of a process also loads what is memoized (rules, routing profiles).
    api.post("/api/payments", {"token": warm, "amount": 2500, "currency": "eur"}, format="json")
    with CaptureQueriesContext(connection) as sale:
        sold = api.post(
            "/api/payments",
            {"token": sale_token, "amount": 2500, "currency": "eur", "capture": True},
            format="json",
        ).json()
    with CaptureQueriesContext(connection) as authorization:
        held = api.post(
            "/api/payments",
            {"token": auth_token, "amount": 2500, "currency": "eur", "capture": False},
            format="json",
        ).json()
    with CaptureQueriesContext(connection) as capture:
        captured = api.post(f"/api/payments/{held['id']}/capture", {}, format="json").json()
    assert (sold["status"], held["status"], captured["status"]) == (
        "captured",
        "authorized",
        "captured",
    )
    assert len(_payment_statements(sale)) <= 14, _payment_statements(sale)
    assert len(_payment_statements(authorization)) <= 17, _payment_statements(authorization)
    assert len(_payment_statements(capture)) <= 13, _payment_statements(capture)


def test_a_sale_whose_payment_was_written_meanwhile_is_booked_under_its_lock(
    api, pay, providers, monkeypatch
):
    """Someone saved the payment between its creation and the booking (still processing): the
    compare-and-set finds the row changed and keeps nothing; the locked path books it, and the
    other writer's change survives."""
    from routing import services as routing_services

    real_authorize = routing_services.authorize

    def authorize_then_write(*, request, **kwargs):
        outcome = real_authorize(request=request, **kwargs)
        other = Payment.objects.get(pk=request.payment_id)
        other.description = "written meanwhile"
        other.save()
        return outcome

    monkeypatch.setattr(routing_services, "authorize", authorize_then_write)
    with CaptureQueriesContext(connection) as queries:
        sold = pay(amount=2700, capture=True).json()

    assert (sold["status"], sold["amount_captured"]) == ("captured", 2700)
    assert sold["description"] == "written meanwhile"
    assert any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)  # the locked path
    events = PaymentEvent.objects.filter(payment_id=sold["id"]).order_by("created", "pk")
    assert [e.to_status for e in events] == ["processing", "authorized", "captured"]
    attempt = Attempt.objects.get(payment_id=sold["id"], kind="authorize")
    assert attempt.outcome == "approved"
    assert Assessment.objects.get(payment_id=sold["id"]).approved is True
    assert_ledger_agrees(api, sold)
    entries = ledger_of(api, sold["id"])["data"]
    assert len({entry["transaction_id"] for entry in entries}) == 2  # one hold, one capture


@pytest.mark.django_db(transaction=True)  # two connections, real commits and row locks
def test_a_new_sale_racing_a_locked_booking_of_it_waits_and_does_not_deadlock(
    api, pay, providers, monkeypatch
):
    """A status inquiry (or provider webhook) holds the payment's lock and books the same
    approval while the API request books it too, on a merchant whose ledger accounts do not
    exist yet. The inquiry creates the accounts under the payment's lock; the request waits at
    its compare-and-set, holding no ledger lock (the ledger posts only after that UPDATE), so
    neither waits for the other. The compare-and-set then finds the row changed and takes the
    locked path: booked once, answered captured."""
    import threading
    import time

    from django.db import connections, transaction

    from payments import services as payment_services
    from routing import services as routing_services
    from routing.interface import Outcome

    real_authorize = routing_services.authorize
    locked, other = threading.Event(), {}

    def inquiry(payment_id, outcome):
        try:
            with transaction.atomic():
                Payment.objects.select_for_update().get(pk=payment_id)
                locked.set()
                time.sleep(0.5)  # the request reaches its booking meanwhile
                booked = payment_services.apply_authorization(
                    payment_id=payment_id, outcome=Outcome.APPROVED, provider=outcome.provider,
                    attempt_id=outcome.attempt_id, provider_reference=outcome.provider_reference,
                    decline_code="", message="", redirect_url="",
                    actor=payment_services.Actor.system("inquiry"), captured=True,
                )  # fmt: skip
                other["status"] = booked.status
        except Exception as exc:  # reported by the assertion below
            other["error"] = repr(exc)
        finally:
            connections.close_all()

    def authorize_then_race(*, request, **kwargs):
        outcome = real_authorize(request=request, **kwargs)
        thread = threading.Thread(target=inquiry, args=(request.payment_id, outcome))
        thread.start()
        other["thread"] = thread
        assert locked.wait(10)
        return outcome

    monkeypatch.setattr(routing_services, "authorize", authorize_then_race)
    response = pay(amount=2800, capture=True)
    other.pop("thread").join(10)

    assert other == {"status": "captured"}
    assert response.status_code == 201, response.content
    sold = response.json()
    assert (sold["status"], sold["amount_captured"]) == ("captured", 2800)
    events = PaymentEvent.objects.filter(payment_id=sold["id"]).order_by("created", "pk")
    assert [e.to_status for e in events] == ["processing", "authorized", "captured"]
    assert Assessment.objects.get(payment_id=sold["id"]).approved is True
    assert_ledger_agrees(api, sold)
    entries = ledger_of(api, sold["id"])["data"]
    assert len({entry["transaction_id"] for entry in entries}) == 2


def test_the_fraud_card_is_blocked_before_any_provider(api, pay, providers):
    response = pay(amount=1500, number=FRAUD_CARD)
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["decline_code"] == "fraudulent"
    assert error["payment"]["fraud"]["decision"] == "block"
    assert providers.records("sim-a") == [] and providers.records("sim-b") == []
    # Stored on its own (no attempt carries it): the payment with its events and assessment.
    stored = Payment.objects.get(pk=error["payment"]["id"])
    assert stored.status == "failed"
    assert Assessment.objects.get(payment_id=stored.pk).id == stored.fraud_assessment_id
    assert list(stored.events.values_list("to_status", flat=True).order_by("created")) == [
        "processing",
        "failed",
    ]
    assert not Attempt.objects.filter(payment_id=stored.pk).exists()


def test_capture_true_authorizes_and_captures_in_one_call(api, pay, providers):
    from routing.models import Attempt

    response = pay(amount=3300, capture=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["amount_captured"]) == ("captured", 3300)
    assert body["capture_method"] == "automatic"
    assert_ledger_agrees(api, body)
    # One provider call, a sale: the provider captured with the authorization.
    attempts = list(Attempt.objects.filter(payment_id=body["id"]))
    assert [(a.kind, a.capture_requested, a.outcome) for a in attempts] == [
        ("authorize", True, "approved")
    ]
    (record,) = [r for r in providers.records(body["provider"]) if r["reference"] == attempts[0].id]
    assert (record["capture"], record["amount_captured"]) == (True, 3300)
    # Both transitions are in the payment's log, and the ledger holds both postings.
    events = PaymentEvent.objects.filter(payment_id=body["id"]).order_by("id")
    assert [(e.from_status, e.to_status) for e in events] == [
        ("", "processing"),
        ("processing", "authorized"),
        ("authorized", "captured"),
    ]
    kinds = [entry["kind"] for entry in ledger_of(api, body["id"])["data"]]
    assert sorted(set(kinds)) == ["auth_hold", "capture"]


def test_three_d_secure_step_up_then_authorized(api, pay, client):
    response = pay(amount=2000, number=THREE_DS_CARD)
    assert response.status_code == 201, response.content
    payment = response.json()
    assert payment["status"] == "requires_action"
    url = payment["next_action"]["redirect_to_url"]["url"]
    page = httpx.get(url)
    assert page.status_code == 200
    completed = httpx.post(url, data={"result": "complete"}, follow_redirects=False)
    assert completed.status_code in (302, 303), completed.text
    back = completed.headers["location"]
    assert f"/pay/return/{payment['id']}" in back
    returned = client.get(back[back.index("/pay/return/") :])
    assert returned.status_code in (200, 302)
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert body["status"] == "authorized"
    assert body["next_action"] is None
    assert_ledger_agrees(api, body)


def test_three_d_secure_failure_fails_the_payment(api, pay, client):
    payment = pay(amount=2000, number=THREE_DS_CARD).json()
    url = payment["next_action"]["redirect_to_url"]["url"]
    completed = httpx.post(url, data={"result": "fail"}, follow_redirects=False)
    back = completed.headers["location"]
    client.get(back[back.index("/pay/return/") :])
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert body["status"] == "failed"
    assert body["decline_code"] == "authentication_failed"
    # Fraud counted the payment as not declined while the challenge was pending; the failure
    # that came later is its outcome now, and the card's next payment sees the decline.
    stored = Assessment.objects.get(payment_id=payment["id"])
    assert (stored.approved, stored.decline_code) == (False, "authentication_failed")
    again = pay(amount=2000, number=THREE_DS_CARD).json()
    assert Assessment.objects.get(payment_id=again["id"]).features["declines_1h"] >= 1


def test_wallet_payment_is_authorized(api, providers):
    body = {
        "payment_method": {
            "type": "wallet",
            "wallet": {"type": "apple_pay", "token": "eyJhcHBsZS1wYXkiOnRydWV9"},
        },
        "amount": 1200,
        "currency": "usd",
    }
    response = api.post("/api/payments", body, format="json")
    assert response.status_code == 201, response.content
    payment = response.json()
    assert payment["status"] == "authorized"
    assert payment["payment_method"] == {"type": "wallet", "wallet": {"type": "apple_pay"}}
    assert_ledger_agrees(api, payment)


def test_every_transition_is_logged(api, pay):
    payment = pay(amount=1000).json()
    api.post(f"/api/payments/{payment['id']}/capture", {}, format="json")
    api.post(f"/api/payments/{payment['id']}/refund", {"amount": 400}, format="json")
    moves = list(
        PaymentEvent.objects.filter(payment_id=payment["id"]).values_list(
            "from_status", "to_status"
        )
    )
    assert moves == [
        ("", "processing"),
        ("processing", "authorized"),
        ("authorized", "captured"),
        ("captured", "partially_refunded"),
    ]
    assert all(
        actor.startswith("api:")
        for actor in PaymentEvent.objects.filter(payment_id=payment["id"]).values_list(
            "actor", flat=True
        )
    )


def test_status_field_cannot_be_assigned_directly(pay):
    payment = Payment.objects.get(pk=pay(amount=1000).json()["id"])
    with pytest.raises(AttributeError):
        payment.status = "captured"


def test_authorizations_expire_after_seven_days(api, pay):
    payment = pay(amount=1000).json()
    assert expire_authorizations() == 0
    assert expire_authorizations(now=timezone.now() + timedelta(days=7, seconds=1)) == 1
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert body["status"] == "canceled"
    assert_ledger_agrees(api, body)


def test_other_merchants_and_modes_get_404(api, pay, other_merchant, merchant):
    payment_id = pay(amount=1000).json()["id"]
    for key in (other_merchant.secret, merchant.live_secret):
        client = client_for(key)
        assert client.get(f"/api/payments/{payment_id}").status_code == 404
        assert (
            client.post(f"/api/payments/{payment_id}/capture", {}, format="json").status_code == 404
        )
        assert client.get(f"/api/payments/{payment_id}/ledger").status_code == 404


def test_another_merchants_token_cannot_be_charged(api, other_merchant, providers):
    foreign = client_for(other_merchant.publishable).post(
        "/api/tokens",
        {"card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2032, "cvc": "123"}},
        format="json",
    )
    response = api.post(
        "/api/payments",
        {"token": foreign.json()["id"], "amount": 100, "currency": "eur"},
        format="json",
    )
    assert response.status_code == 404
    assert Payment.objects.count() == 0
    assert not DetokenizationEvent.objects.exists()
    assert providers.records("sim-a") == [] and providers.records("sim-b") == []


def test_list_filters_and_paginates(api, pay):
    ids = [pay(amount=100 + i, number=distinct_card(i)).json()["id"] for i in range(4)]
    api.post(f"/api/payments/{ids[0]}/capture", {}, format="json")
    page = api.get("/api/payments?limit=2").json()
    assert [row["id"] for row in page["data"]] == ids[::-1][:2]
    assert page["has_more"] is True
    nxt = api.get(f"/api/payments?limit=2&starting_after={page['data'][-1]['id']}").json()
    assert [row["id"] for row in nxt["data"]] == ids[::-1][2:]
    captured = api.get("/api/payments?status=captured").json()
    assert [row["id"] for row in captured["data"]] == [ids[0]]
    future = int((timezone.now() + timedelta(hours=1)).timestamp())
    assert api.get(f"/api/payments?created[gte]={future}").json()["data"] == []
    assert len(api.get(f"/api/payments?created[lte]={future}").json()["data"]) == 4
    assert api.get("/api/payments?status=shipped").status_code == 400


def test_merchant_receives_signed_webhooks_for_each_change(
    api, pay, webhook_receiver, django_capture_on_commit_callbacks
):
    from standardwebhooks import Webhook

    endpoint = api.post(
        "/api/webhook-endpoints",
        {"url": webhook_receiver.url.replace("{provider}", "shop"), "enabled_events": ["*"]},
        format="json",
    ).json()
    with django_capture_on_commit_callbacks(execute=True):
        payment = pay(amount=900).json()
        api.post(f"/api/payments/{payment['id']}/capture", {}, format="json")
    received = webhook_receiver.wait(2)
    events = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in received]
    assert [event["type"] for event in events] == ["payment.authorized", "payment.captured"]
    assert events[1]["data"]["object"]["amount_captured"] == 900


def _simulators_time_out(providers) -> None:
    """Both simulated providers take every call and never answer in time (300 ms timeouts)."""
    from routing.models import Provider

    for provider in Provider.objects.filter(name__in=["sim-a", "sim-b"]):
        provider.timeout_ms = 300
        provider.save()  # saving invalidates the cached provider metadata
        providers.control(provider.name, timeout_rate=1.0, timeout_s=1.0)


def _simulators_answer(providers) -> None:
    for provider in ("sim-a", "sim-b"):
        providers.control(provider, timeout_rate=0.0)


def test_provider_timeout_leaves_the_payment_processing_until_the_inquiry_resolves_it(
    api, pay, providers, django_capture_on_commit_callbacks
):

    _simulators_time_out(providers)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = pay(amount=5100)
    assert response.status_code == 201, response.content
    payment = response.json()
    assert payment["status"] == "processing"
    assert ledger_of(api, payment["id"])["data"] == []  # nothing held while unknown
    chosen = payment["provider"]
    other = {"sim-a": "sim-b", "sim-b": "sim-a"}[chosen]
    assert providers.records(other) == []  # no second authorization elsewhere

    _simulators_answer(providers)
    for callback in callbacks:  # the status inquiry task, as the worker would run it
        callback()
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert body["status"] == "authorized"
    assert_ledger_agrees(api, body)
    assert len(providers.records(chosen)) == 1


def test_a_decline_found_by_the_status_inquiry_is_told_to_fraud(
    api, pay, providers, django_capture_on_commit_callbacks
):

    _simulators_time_out(providers)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payment = pay(amount=5200, number=DECLINE_CARD).json()
    assert payment["status"] == "processing"
    assert Assessment.objects.get(payment_id=payment["id"]).approved is True  # not declined yet

    _simulators_answer(providers)
    for callback in callbacks:  # the status inquiry task, as the worker would run it
        callback()

    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "failed"
    stored = Assessment.objects.get(payment_id=payment["id"])
    assert (stored.approved, stored.decline_code) == (False, "generic_decline")


def test_capture_true_is_honoured_after_three_d_secure(api, pay, client):
    from routing.models import Attempt

    payment = pay(amount=2600, number=THREE_DS_CARD, capture=True).json()
    assert payment["status"] == "requires_action"
    url = payment["next_action"]["redirect_to_url"]["url"]
    back = httpx.post(url, data={"result": "complete"}, follow_redirects=False).headers["location"]
    client.get(back[back.index("/pay/return/") :])
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert (body["status"], body["amount_captured"]) == ("captured", 2600)
    assert_ledger_agrees(api, body)
    # The sale was captured by the provider when the challenge completed: the return only asked
    # for its status; no capture call followed.
    kinds = Attempt.objects.filter(payment_id=body["id"]).order_by("created")
    assert [a.kind for a in kinds] == ["authorize", "status"]
    entries = {entry["kind"] for entry in ledger_of(api, body["id"])["data"]}
    assert entries == {"auth_hold", "capture"}


def test_a_sale_the_provider_completes_after_we_canceled_is_refunded_there(
    api, pay, providers, django_capture_on_commit_callbacks
):
    from routing import services as routing_services

    payment = pay(amount=2700, number=THREE_DS_CARD, capture=True).json()
    assert payment["status"] == "requires_action"
    assert api.post(f"/api/payments/{payment['id']}/cancel", {}, format="json").status_code == 200
    # The customer finishes the challenge anyway: the provider captures the sale …
    url = payment["next_action"]["redirect_to_url"]["url"]
    httpx.post(url, data={"result": "complete"}, follow_redirects=False)
    attempt_id = Payment.objects.get(pk=payment["id"]).attempt_id
    # … and the status inquiry (or its webhook) reports it to us.
    with django_capture_on_commit_callbacks(execute=True):
        routing_services.resolve_unknown_attempt(attempt_id=attempt_id)

    body = api.get(f"/api/payments/{payment['id']}").json()
    assert (body["status"], body["amount_captured"]) == ("canceled", 0)
    assert ledger_of(api, body["id"])["data"] == []  # nothing was ours to book
    (record,) = [r for r in providers.records(body["provider"]) if r["reference"] == attempt_id]
    assert (record["amount_captured"], record["amount_refunded"]) == (2700, 2700)
    reasons = list(
        PaymentEvent.objects.filter(payment_id=body["id"]).values_list("reason", flat=True)
    )
    assert any("refunded there" in reason for reason in reasons)


def test_a_sale_whose_answer_was_lost_is_booked_when_the_inquiry_finds_it(
    api, pay, providers, django_capture_on_commit_callbacks
):
    from routing.models import Attempt

    _simulators_time_out(providers)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = pay(amount=3100, capture=True)
    assert response.json()["status"] == "processing"
    _simulators_answer(providers)
    for callback in callbacks:  # the status inquiry, as the worker would run it
        callback()

    body = api.get(f"/api/payments/{response.json()['id']}").json()
    assert (body["status"], body["amount_captured"]) == ("captured", 3100)
    assert_ledger_agrees(api, body)
    kinds = [a.kind for a in Attempt.objects.filter(payment_id=body["id"]).order_by("created")]
    assert "capture" not in kinds  # the provider captured with the authorization


def test_abandoned_three_d_secure_payments_are_canceled(api, pay):
    payment = pay(amount=2000, number=THREE_DS_CARD).json()
    assert expire_authorizations() == 0
    assert expire_authorizations(now=timezone.now() + timedelta(days=1, seconds=1)) == 1
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "canceled"


def test_refund_retried_after_a_lost_provider_answer_refunds_once(api, pay, providers):
    """The provider refunds but its answer never arrives: the retry with the same key sends the
    same refund reference, so the provider replays instead of refunding again."""
    from routing.models import Provider

    payment = pay(amount=5000, capture=True).json()
    provider = Provider.objects.get(name=payment["provider"])
    provider.timeout_ms = 300
    provider.save()
    providers.control(provider.name, timeout_rate=1.0, timeout_s=1.0)
    first = api.post(
        f"/api/payments/{payment['id']}/refund",
        {"amount": 1200},
        format="json",
        HTTP_IDEMPOTENCY_KEY="refund-once",
    )
    assert first.status_code == 502, first.content
    assert first.json()["error"]["type"] == "api_error"
    assert api.get(f"/api/payments/{payment['id']}").json()["amount_refunded"] == 0
    providers.control(provider.name, timeout_rate=0.0)
    retry = api.post(
        f"/api/payments/{payment['id']}/refund",
        {"amount": 1200},
        format="json",
        HTTP_IDEMPOTENCY_KEY="refund-once",
    )
    assert retry.status_code == 200, retry.content
    record = next(
        r for r in providers.records(provider.name) if r["id"] == payment["provider_reference"]
    )
    assert record["amount_refunded"] == 1200, record["refunds"]  # not 2400
    body = api.get(f"/api/payments/{payment['id']}").json()
    assert body["amount_refunded"] == 1200
    assert_ledger_agrees(api, body)


def test_captured_payments_do_not_count_as_declines_for_fraud(api, tokenize, providers):
    from fraud.models import Rule

    Rule.objects.filter(name="card_testing_burst").update(enabled=False)
    token = tokenize()
    for _ in range(5):
        body = {"token": token, "amount": 1000, "currency": "eur", "capture": True}
        response = api.post("/api/payments", body, format="json")
        assert response.status_code == 201, response.content
        assert "repeated_declines" not in response.json()["fraud"]["rules"]


def test_a_sale_whose_booking_fails_is_not_charged_twice_and_is_booked_later(
    api, tokenize, providers, monkeypatch, caplog
):
    from ledger import services as ledger_services
    from ledger.errors import LedgerIdempotencyConflict
    from payments import services as payment_services

    # The ledger refuses while the statement that books the sale runs (after the payment's
    # UPDATE and the events' INSERTs were executed): the whole statement is rolled back, and
    # the refusal reaches Python as the ledger's domain error.
    with connection.cursor() as cursor:
        cursor.execute(REFUSING_SALE_FUNCTION)
    real = ledger_services._SALE_CALL
    monkeypatch.setattr(ledger_services, "_SALE_CALL", real.replace("(", "_refusing(", 1))
    body = {"token": tokenize(), "amount": 4200, "currency": "eur", "capture": True}
    headers = {"HTTP_IDEMPOTENCY_KEY": "sale-booking-fails"}
    first = api.post("/api/payments", body, format="json", **headers)
    retry = api.post("/api/payments", body, format="json", **headers)

    # The provider took the money; we answer with the payment as it stands and the retry gets
    # the same answer rather than a second sale.
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "processing"
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["id"] == first.json()["id"]
    payment_id = first.json()["id"]
    assert Payment.objects.count() == 1
    from routing.models import Attempt

    references = set(Attempt.objects.filter(payment_id=payment_id).values_list("id", flat=True))
    sales = [
        record
        for name in ("sim-a", "sim-b")
        for record in providers.records(name)
        if record["reference"] in references
    ]
    assert [(r["amount"], r["amount_captured"]) for r in sales] == [(4200, 4200)]
    assert list(PaymentEvent.objects.filter(payment_id=payment_id).values_list("to_status")) == [
        ("processing",)
    ]
    assert ledger_of(api, payment_id)["data"] == []
    assert "booking the approval" in caplog.text
    assert f"{LedgerIdempotencyConflict.__module__}.LedgerIdempotencyConflict" in caplog.text
    # What the failed statement carried is recorded on its own: the attempt's answer, fraud's.
    assert Attempt.objects.get(payment_id=payment_id, kind="authorize").outcome == "approved"
    assert Assessment.objects.get(payment_id=payment_id).approved is True

    monkeypatch.setattr(ledger_services, "_SALE_CALL", real)
    assert payment_services.settle_stalled_payments(now=timezone.now()) == 0  # too recent
    later = timezone.now() + timedelta(seconds=payment_services.STALLED_AFTER_S + 1)
    assert payment_services.settle_stalled_payments(now=later) == 1

    settled = api.get(f"/api/payments/{payment_id}").json()
    assert (settled["status"], settled["amount_captured"]) == ("captured", 4200)
    assert_ledger_agrees(api, settled)


# ledger_post_sale's signature, refusing at run time as the ledger does (SQLSTATE LG007).
REFUSING_SALE_FUNCTION = """
CREATE FUNCTION ledger_post_sale_refusing(
    text, text, text, text, timestamptz, text, text, text, bigint[], bigint[], bigint[],
    text, text, text, bigint[], bigint[], bigint[], integer, double precision)
RETURNS TABLE (o_kind text, o_id bigint, o_created boolean, o_ts timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reference already posted' USING ERRCODE = 'LG007';
END $$
"""


def test_stalled_payments_wait_while_their_latest_attempt_is_unknown(merchant):
    from payments import services as payment_services
    from routing.models import Attempt

    payment = Payment.objects.create(
        merchant=merchant.merchant, amount_minor=1500, currency="EUR", method_type="card"
    )
    earlier = timezone.now() - timedelta(minutes=10)
    Payment.objects.filter(pk=payment.pk).update(created=earlier)
    for seconds, outcome in ((1, "soft_decline"), (2, "timeout_unknown")):  # a cascade
        attempt = Attempt.objects.create(
            kind="authorize", payment_id=payment.id, merchant_id=merchant.merchant.id,
            provider="sim-a", method="card", currency="EUR", amount_minor=1500, outcome=outcome,
        )  # fmt: skip
        Attempt.objects.filter(pk=attempt.pk).update(created=earlier + timedelta(seconds=seconds))

    assert payment_services.settle_stalled_payments() == 0
    assert Payment.objects.get(pk=payment.pk).status == "processing"  # the inquiry's to decide

    Attempt.objects.filter(payment_id=payment.id, outcome="timeout_unknown").update(
        outcome="hard_decline"
    )
    assert payment_services.settle_stalled_payments() == 1
    assert Payment.objects.get(pk=payment.pk).status == "failed"


def test_a_payment_that_failed_before_any_provider_is_failed_by_the_sweep(
    api, pay, providers, monkeypatch
):
    """Redis stops answering while routing reads the card's CVC: the request fails (500, no
    provider called) and leaves its payment processing with no attempt; the stalled-payment
    sweep fails it once it is old enough, and leaves a payment with an attempt to its rules."""
    import redis

    from payments import services as payment_services
    from tokenization import services as token_services

    def redis_times_out(**kwargs):
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(token_services, "_take_cvc", redis_times_out)
    response = pay(amount=2900, capture=True)
    assert response.status_code == 500, response.content
    assert response.json()["error"]["type"] == "api_error"
    (payment,) = Payment.objects.filter(amount_minor=2900)
    assert payment.status == "processing"
    assert not Attempt.objects.filter(payment_id=payment.pk).exists()
    assert providers.records("sim-a") == [] and providers.records("sim-b") == []
    monkeypatch.undo()
    sent = pay(amount=3100).json()  # an authorization with an attempt: not the sweep's
    assert sent["status"] == "authorized"

    assert payment_services.settle_stalled_payments() == 0  # too recent
    later = timezone.now() + timedelta(seconds=payment_services.STALLED_AFTER_S + 1)
    assert payment_services.settle_stalled_payments(now=later) == 1

    failed = api.get(f"/api/payments/{payment.pk}").json()
    assert (failed["status"], failed["failure_code"]) == ("failed", "processing_error")
    assert ledger_of(api, payment.pk)["data"] == []
    events = PaymentEvent.objects.filter(payment_id=payment.pk).order_by("created", "pk")
    assert [(e.to_status, e.actor) for e in events] == [
        ("processing", events[0].actor),
        ("failed", "system:settle_stalled"),
    ]
    assert Payment.objects.get(pk=sent["id"]).status == "authorized"


@pytest.mark.parametrize("kind", ["capture", "refund"])
def test_a_capture_or_refund_the_provider_reports_failed_afterwards_is_reported_not_unwound(
    api, pay, caplog, kind
):
    from payments import handlers
    from routing.interface import WebhookEvent

    captured = pay(amount=3000, capture=True).json()
    refunded = api.post(f"/api/payments/{captured['id']}/refund", {"amount": 1000}, format="json")
    assert refunded.status_code == 200, refunded.content
    stored = Payment.objects.get(pk=captured["id"])
    event = WebhookEvent(
        provider=stored.provider,
        event_id=f"evt_{kind}_failed",
        type=f"payment.{kind}_failed",
        # A capture echoes the authorization's reference, a refund the refund's own.
        reference=stored.attempt_id if kind == "capture" else refunded.json()["id"],
        provider_reference=stored.provider_reference,
        amount_minor=3000 if kind == "capture" else 1000,
        currency="EUR",
    )

    with caplog.at_level("ERROR", logger="qr.payments"):
        handlers.on_provider_payment_event(event)

    assert [record.levelname for record in caplog.records] == ["ERROR"]
    assert stored.id in caplog.text and f"a {kind} of payment" in caplog.text
    body = api.get(f"/api/payments/{stored.id}").json()
    assert (body["status"], body["amount_captured"], body["amount_refunded"]) == (
        "partially_refunded",
        3000,
        1000,
    )
