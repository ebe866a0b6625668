"""core/rows.py: statements written once per model must read and write exactly what the ORM
does — JSON, timestamps, protected FSM fields, database defaults, automatic keys — and a
locked read must really hold the row lock."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import DatabaseDefault
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import rows
from merchants.models import IdempotencyKey, WebhookEndpoint
from payments.models import Payment, PaymentEvent, Status
from routing.models import Attempt, AttemptKind, Decision

pytestmark = pytest.mark.django_db


def _values(obj) -> list:
    return [getattr(obj, field.attname) for field in type(obj)._meta.concrete_fields]


def _payment(merchant, **overrides) -> Payment:
    fields = {
        "merchant_id": merchant.merchant.pk,
        "livemode": False,
        "amount_minor": 1234,
        "currency": "EUR",
        "capture_method": "automatic",
        "method_type": "card",
        "method_details": {"brand": "visa", "last4": "4242", "nested": {"a": [1, 2]}},
        "metadata": {"order": "A-1", "note": "ünïcode"},
        "customer_ip": "192.0.2.7",
    }
    return Payment(**{**fields, **overrides})


def test_an_inserted_payment_reads_back_through_the_orm_unchanged(merchant):
    payment = rows.insert(_payment(merchant))

    assert payment.pk.startswith("pay_")
    assert payment._state.adding is False
    stored = Payment.objects.get(pk=payment.pk)
    assert _values(stored) == _values(payment)
    assert stored.method_details["nested"] == {"a": [1, 2]}
    assert stored.created is not None and stored.updated is not None


def test_a_fetched_row_equals_the_orm_s_instance_field_for_field(merchant):
    payment = _payment(merchant, next_action={"type": "redirect_to_url"})
    payment.save(force_insert=True)

    fetched = rows.fetch(Payment, "payment_id = %s", [payment.pk])

    assert _values(fetched) == _values(Payment.objects.get(pk=payment.pk))
    assert fetched.next_action == {"type": "redirect_to_url"}  # JSON decoded, not text
    assert fetched.status == Status.PROCESSING
    assert fetched._state.adding is False
    assert rows.fetch(Payment, "payment_id = %s", ["pay_missing"]) is None


def test_fetched_payments_still_move_only_through_their_transitions(merchant):
    payment = rows.insert(_payment(merchant))
    fetched = rows.fetch(Payment, "payment_id = %s", [payment.pk])

    with pytest.raises(AttributeError):
        fetched.status = Status.CAPTURED  # protected FSM field, as for an ORM-loaded row
    now = timezone.now()
    fetched.authorize(authorized_at=now, expires_at=now + timedelta(days=7))
    assert rows.save_together(fetched) == 1
    assert Payment.objects.get(pk=payment.pk).status == Status.AUTHORIZED


def test_save_writes_every_column_and_refreshes_auto_now(merchant):
    payment = rows.insert(_payment(merchant))
    before = Payment.objects.get(pk=payment.pk).updated
    payment.metadata = {"changed": "yes"}
    payment.provider = "sim-a"

    assert rows.save_together(payment) == 1

    stored = Payment.objects.get(pk=payment.pk)
    assert stored.metadata == {"changed": "yes"}
    assert stored.provider == "sim-a"
    assert stored.updated > before


def test_update_writes_only_the_listed_fields(merchant):
    payment = rows.insert(_payment(merchant))
    payment.provider = "sim-a"
    payment.description = "not saved"

    assert rows.update(payment, ["provider"]) == 1

    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.provider, stored.description) == ("sim-a", "")


def test_update_where_counts_the_rows_it_changed(merchant):
    first, second = rows.insert(_payment(merchant)), rows.insert(_payment(merchant))

    changed = rows.update_where(
        Payment, {"description": "bulk"}, "payment_id = ANY(%s)", [[first.pk, second.pk]]
    )

    assert changed == 2
    assert set(Payment.objects.filter(description="bulk").values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert rows.update_where(Payment, {"description": "x"}, "payment_id = %s", ["pay_no"]) == 0


def test_database_defaults_and_automatic_keys_come_back_from_the_insert(merchant):
    payment = rows.insert(_payment(merchant))
    decision = rows.insert(
        Decision(payment_id=payment.pk, merchant_id=payment.merchant_id, strategies=["cost"])
    )
    attempt = Attempt(
        kind=AttemptKind.AUTHORIZE,
        payment_id=payment.pk,
        merchant_id=payment.merchant_id,
        decision=decision,
        provider="sim-a",
        method="card",
        currency="EUR",
        amount_minor=1234,
    )
    field = Attempt._meta.get_field("call_failed")
    attempt.call_failed = DatabaseDefault(field.db_default, output_field=field)  # the DB decides
    rows.insert(attempt)
    assert attempt.call_failed is False  # RETURNING filled it in, not an expression

    events = [
        PaymentEvent(payment=payment, from_status="", to_status=status, actor="test")
        for status in ("processing", "authorized")
    ]
    rows.insert_together(*events)
    assert all(isinstance(event.pk, int) for event in events)
    assert [e.to_status for e in PaymentEvent.objects.filter(payment=payment).order_by("pk")] == [
        "processing",
        "authorized",
    ]


def test_rows_of_one_table_together_get_back_no_more_than_their_key(merchant):
    payment = rows.insert(_payment(merchant))
    field = Attempt._meta.get_field("call_failed")
    attempts = [
        Attempt(
            kind=AttemptKind.AUTHORIZE, payment_id=payment.pk, merchant_id=payment.merchant_id,
            provider="sim-a", method="card", currency="EUR", amount_minor=1,
            call_failed=DatabaseDefault(field.db_default, output_field=field),
        )
        for _ in range(2)
    ]  # fmt: skip
    with pytest.raises(ValueError, match="no more than their key"):
        rows.insert_together(*attempts)


def test_a_duplicate_key_is_an_integrity_error_like_the_orm_s(merchant):
    fields = {
        "merchant_id": merchant.merchant.pk,
        "livemode": False,
        "key": "k-1",
        "request_hash": "h",
        "method": "POST",
        "path": "/api/payments",
        "locked_until": timezone.now(),
        "created": timezone.now(),
    }
    rows.insert(IdempotencyKey(**fields))
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(IdempotencyKey(**fields))


def test_fetch_all_orders_and_filters(merchant):
    older = WebhookEndpoint.objects.create(
        merchant=merchant.merchant, url="https://a.example/hook", secret="s"
    )
    newer = WebhookEndpoint.objects.create(
        merchant=merchant.merchant, url="https://b.example/hook", secret="s"
    )
    WebhookEndpoint.objects.create(
        merchant=merchant.merchant, url="https://c.example/hook", secret="s", active=False
    )

    found = rows.fetch_all(
        WebhookEndpoint,
        "merchant_id = %s AND active",
        [merchant.merchant.pk],
        order_by="created DESC",
    )

    assert [endpoint.pk for endpoint in found] == [newer.pk, older.pk]
    assert found[0].enabled_events == newer.enabled_events


@pytest.mark.django_db(transaction=True)
def test_a_locked_fetch_holds_the_row_until_the_transaction_ends(merchant):
    payment = rows.insert(_payment(merchant))
    locked = threading.Event()
    release = threading.Event()
    waited: list[float] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                rows.fetch(Payment, "payment_id = %s", [payment.pk], lock=True)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def contender() -> None:
        try:
            started = time.monotonic()
            with transaction.atomic():
                rows.fetch(Payment, "payment_id = %s", [payment.pk], lock=True)
            waited.append(time.monotonic() - started)
        finally:
            connection.close()

    first = threading.Thread(target=holder)
    first.start()
    assert locked.wait(10)
    second = threading.Thread(target=contender)
    second.start()
    second.join(0.5)
    assert second.is_alive()  # blocked on the row lock
    release.set()
    first.join(10)
    second.join(10)
    assert len(waited) == 1 and waited[0] >= 0.5


def test_rows_of_different_tables_go_in_one_statement(merchant):
    payment = _payment(merchant)
    event = PaymentEvent(payment=payment, from_status="", to_status="processing", actor="test")

    with CaptureQueriesContext(connection) as queries:
        rows.insert_together(payment, event)

    assert len(queries.captured_queries) == 1
    assert isinstance(event.pk, int) and not payment._state.adding
    assert PaymentEvent.objects.get(pk=event.pk).payment_id == payment.pk
    assert Payment.objects.filter(pk=payment.pk).exists()


def test_rows_inserted_together_are_all_or_nothing(merchant):
    stored = rows.insert(_payment(merchant))
    fresh = _payment(merchant)
    duplicate = _payment(merchant, id=stored.pk)

    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert_together(fresh, duplicate)

    assert not Payment.objects.filter(pk=fresh.pk).exists()


def test_a_state_change_and_its_log_lines_go_in_one_statement(merchant):
    payment = rows.insert(_payment(merchant))
    now = timezone.now()
    payment.authorize(authorized_at=now, expires_at=now + timedelta(days=7))
    event = PaymentEvent(payment=payment, from_status="processing", to_status="authorized")

    with CaptureQueriesContext(connection) as queries:
        changed = rows.save_together(payment, event)

    assert changed == 1 and len(queries.captured_queries) == 1
    assert Payment.objects.get(pk=payment.pk).status == Status.AUTHORIZED
    assert PaymentEvent.objects.get(pk=event.pk).to_status == "authorized"


def test_saving_a_row_that_is_gone_changes_nothing_and_says_so(merchant):
    payment = rows.insert(_payment(merchant))
    Payment.objects.filter(pk=payment.pk).delete()

    assert rows.save_together(payment) == 0


def test_rows_of_one_table_written_together_keep_their_order(merchant):
    payment = rows.insert(_payment(merchant))
    events = [
        PaymentEvent(payment=payment, from_status="", to_status=f"s{number}", actor="test")
        for number in range(5)
    ]
    decisions = [Decision(payment_id=payment.pk, merchant_id="m", reason=str(n)) for n in range(3)]

    rows.save_together(payment, *events)
    rows.insert_together(*decisions)

    stored = list(PaymentEvent.objects.filter(payment=payment).order_by("pk"))
    assert [event.pk for event in stored] == [event.pk for event in events]
    assert [event.to_status for event in stored] == [f"s{number}" for number in range(5)]
    assert {d.pk: d.reason for d in Decision.objects.filter(payment_id=payment.pk)} == {
        d.pk: d.reason for d in decisions
    }


def test_update_where_takes_field_names_or_attribute_names(merchant, other_merchant):
    payment = rows.insert(_payment(merchant))

    assert rows.update_where(Payment, {"amount_minor": 99}, "payment_id = %s", [payment.pk]) == 1
    moved = {"merchant_id": other_merchant.merchant.pk}  # a foreign key's attribute name
    assert rows.update_where(Payment, moved, "payment_id = %s", [payment.pk]) == 1

    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.amount_minor, stored.merchant_id) == (99, other_merchant.merchant.pk)


def test_another_module_s_update_rides_in_the_state_change_statement(merchant):
    payment = rows.insert(_payment(merchant))
    other = rows.insert(_payment(merchant, amount_minor=1))
    now = timezone.now()
    payment.authorize(authorized_at=now, expires_at=now + timedelta(days=7))
    event = PaymentEvent(payment=payment, from_status="processing", to_status="authorized")
    also = rows.Update(Payment, {"amount_minor": 77}, "payment_id = %s", (other.pk,))

    with CaptureQueriesContext(connection) as queries:
        changed = rows.save_together(payment, event, also=[also])

    assert changed == 1 and len(queries.captured_queries) == 1
    assert Payment.objects.get(pk=other.pk).amount_minor == 77
    assert Payment.objects.get(pk=payment.pk).status == Status.AUTHORIZED
    assert PaymentEvent.objects.get(pk=event.pk).to_status == "authorized"


def test_a_ridden_update_goes_down_with_its_statement(merchant):
    payment = rows.insert(_payment(merchant))
    other = rows.insert(_payment(merchant, amount_minor=1))
    clash = rows.insert(PaymentEvent(payment=payment, from_status="", to_status="x", actor="t"))
    duplicate = PaymentEvent(id=clash.pk, payment=payment, from_status="", to_status="y")
    also = rows.Update(Payment, {"amount_minor": 77}, "payment_id = %s", (other.pk,))

    with pytest.raises(IntegrityError), transaction.atomic():
        rows.save_together(payment, duplicate, also=[also])

    assert Payment.objects.get(pk=other.pk).amount_minor == 1


def _sequence_value() -> tuple[int, bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value, is_called FROM rows_test_seq")
        return cursor.fetchone()


@pytest.fixture
def sequence():
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE rows_test_seq")
    yield "rows_test_seq"


_EXTRA = "(SELECT count(*) FROM payments_paymentevent e WHERE e.payment_id = u.payment_id)"


def _save_if_processing_as_stored(payment, event, stored_updated, call) -> rows.Saved:
    return rows.save_together_when(
        payment,
        event,
        when='"status" = %s AND "updated" = %s',
        params=(Status.PROCESSING, stored_updated),
        extra=_EXTRA,
        then=call,
    )


def test_a_guarded_save_applies_while_its_condition_holds_with_extra_and_call(merchant, sequence):
    payment = rows.insert(_payment(merchant))
    rows.insert(PaymentEvent(payment=payment, from_status="", to_status="processing", actor="t"))
    stored_updated = payment.updated
    now = timezone.now()
    payment.authorize(authorized_at=now, expires_at=now + timedelta(days=7))
    event = PaymentEvent(payment=payment, from_status="processing", to_status="authorized")
    # Two rows back from the call, as arrays in its row order.
    call = rows.Call("generate_series(nextval(%s::regclass), %s)", (sequence, 3), ("value",))

    with CaptureQueriesContext(connection) as queries:
        saved = _save_if_processing_as_stored(payment, event, stored_updated, call)

    assert len(queries.captured_queries) == 1
    assert saved.updated == 1
    assert saved.extra == 1  # the statement's own INSERT is not visible to it: the first event
    assert saved.called == ([1, 2, 3],)
    assert Payment.objects.get(pk=payment.pk).status == Status.AUTHORIZED
    assert PaymentEvent.objects.filter(payment=payment).count() == 2


def test_a_guarded_save_whose_condition_fails_updates_nothing_and_calls_nothing(merchant, sequence):
    payment = rows.insert(_payment(merchant))
    stored_updated = payment.updated
    concurrent = Payment.objects.get(pk=payment.pk)  # another writer saves the row meanwhile
    concurrent.description = "changed by someone else"
    concurrent.save()  # `updated` moves on (auto_now), as with every write of a payment
    now = timezone.now()
    payment.authorize(authorized_at=now, expires_at=now + timedelta(days=7))
    event = PaymentEvent(payment=payment, from_status="processing", to_status="authorized")
    call = rows.Call("nextval(%s::regclass)", (sequence,), ("value",))

    with transaction.atomic():
        saved = _save_if_processing_as_stored(payment, event, stored_updated, call)
        # The INSERT is not conditional: the caller rolls back (documented).
        assert PaymentEvent.objects.filter(pk=event.pk).exists()
        transaction.set_rollback(True)

    assert (saved.updated, saved.extra, saved.called) == (0, None, ([],))
    assert _sequence_value() == (1, False)  # the call never ran
    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.status, stored.description) == (Status.PROCESSING, "changed by someone else")
    assert not PaymentEvent.objects.filter(pk=event.pk).exists()
