"""core/rows.py prepares the values of a row without Django's per-field calls where those
would hand the value over unchanged; the parameters must be exactly Django's, for every column
of every model, whatever value (None, an enum member, a lazy string, a naive datetime, a value
Django refuses) the attribute holds."""

from __future__ import annotations

import copy
import datetime
import decimal
import uuid
import warnings
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.models import Value
from django.db.models.expressions import DatabaseDefault
from django.utils.translation import gettext_lazy

from core import ids, rows
from payments.models import Payment, PaymentEvent, Status
from routing.models import AttemptKind

NOW = datetime.datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.UTC)
MODELS = [model for model in apps.get_models() if not model._meta.proxy]


class Priority(models.IntegerChoices):
    LOW = 1
    HIGH = 2


class Label(str):
    """A str subclass that is no enum: Django hands it over as it is, so must we."""


# Values an attribute may hold when a row is written, of every type a column here takes and
# some it refuses. Each is tried on every field; Django's answer (or error) is the reference.
CANDIDATES: list[Any] = [
    None,
    "",
    "abc",
    "ünïcode ✓",
    "pay_0123456789abcdefghijkl",
    "7",
    "t",
    "192.0.2.7",
    "2025-01-02T03:04:05Z",
    Label("labelled"),
    Status.PROCESSING,
    AttemptKind.AUTHORIZE,
    Priority.HIGH,
    gettext_lazy("lazy text"),
    0,
    1,
    7,
    -3,
    2**40,
    True,
    False,
    1.5,
    decimal.Decimal("12.50"),
    NOW,
    NOW.astimezone(zoneinfo.ZoneInfo("Europe/Paris")),
    datetime.datetime(2025, 1, 2, 3, 4, 5),  # naive: Django warns and makes it aware
    datetime.date(2025, 1, 2),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {"a": [1, 2], "b": "ü"},
    [1, "x"],
    b"\x00\x01bytes",
    Value("an expression"),
]


@pytest.fixture(autouse=True)
def _deterministic_pre_save(monkeypatch):
    """auto_now times and generated ids the same in both computations."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    monkeypatch.setattr(ids, "new_id", lambda prefix: f"{prefix}_fixed")


def _same(a: Any, b: Any) -> bool:
    """Equal as the driver sees them: the same type and value, and for the adapters Django
    wraps values in (Jsonb, Int8 and kin, Inet, Binary…) the same attributes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if type(a).__eq__ is object.__eq__:  # an adapter object: compare what it holds
        names = {name for cls in type(a).__mro__ for name in getattr(cls, "__slots__", ())}
        names |= set(getattr(a, "__dict__", {}))
        return all(_same(getattr(a, name, None), getattr(b, name, None)) for name in names)
    return a == b and getattr(a, "__dict__", None) == getattr(b, "__dict__", None)


def _outcome(compute: Callable[[], Any]) -> tuple[str, Any, list[str]]:
    """What `compute` returns or raises, with the warnings it gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("value", compute())
        except Exception as exc:
            result = ("error", f"{type(exc).__name__}: {exc}")
    return (*result, [str(warning.message) for warning in caught])


def _assert_same(ours: tuple, django: tuple, where: str) -> None:
    assert ours[0] == django[0], f"{where}: {ours} != {django}"
    if ours[0] == "value":
        assert _same(ours[1], django[1]), f"{where}: {ours[1]!r} != {django[1]!r}"
    else:
        assert ours[1] == django[1], where
    assert ours[2] == django[2], where


def _twins(model: type[models.Model], values: dict[str, Any]) -> tuple[models.Model, ...]:
    """Two equal rows (defaults drawn once) holding these attribute values."""
    obj = model()
    for attname, value in values.items():
        obj.__dict__[attname] = value  # past descriptors, as a protected FSM field needs
    return obj, copy.copy(obj)


def _state(obj: models.Model) -> list[Any]:
    """What pre_save may have set (a generated id, an auto_now time)."""
    return [obj.__dict__.get(field.attname) for field in rows._fields(type(obj))]


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
@pytest.mark.parametrize("add", [True, False], ids=["insert", "update"])
def test_every_column_is_prepared_exactly_as_django_prepares_it(model, add):
    for index, field in enumerate(rows._fields(model)):
        column = rows._columns(model, add)[index]
        for value in [*CANDIDATES, *(choice for choice, _ in field.flatchoices[:3])]:
            ours, theirs = _twins(model, {field.attname: value})
            where = f"{model._meta.label}.{field.name} = {value!r} (add={add})"
            _assert_same(
                _outcome(lambda: rows._row_params(ours, [column], add, connection)),
                _outcome(lambda: [field.get_db_prep_save(field.pre_save(theirs, add), connection)]),
                where,
            )
            assert _same(_state(ours), _state(theirs)), where


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_a_value_given_to_an_update_is_prepared_exactly_as_django_prepares_it(model):
    for field in rows._fields(model):
        for name in {field.name, field.attname}:
            columns = rows._named_columns(model, (name,))
            for value in CANDIDATES:
                _assert_same(
                    _outcome(lambda: rows._values_params(columns, [value], connection)),
                    _outcome(lambda: [field.get_db_prep_save(value, connection)]),
                    f"{model._meta.label}.{name} = {value!r}",
                )


def _accepted_values(field: models.Field) -> list[Any]:
    """The plain candidates (no expressions) Django prepares for this field without an error
    or a warning."""
    accepted = []
    for value in CANDIDATES:
        if hasattr(value, "as_sql"):
            continue
        outcome = _outcome(lambda: field.get_db_prep_save(value, connection))
        if outcome[0] == "value" and not outcome[2]:
            accepted.append(value)
    return accepted


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_whole_rows_are_prepared_exactly_as_django_prepares_them(model):
    fields = rows._fields(model)
    accepted = {field.attname: _accepted_values(field) or [None] for field in fields}
    for round_ in range(max(len(values) for values in accepted.values())):
        values = {name: options[round_ % len(options)] for name, options in accepted.items()}
        for add in (True, False):
            ours, theirs = _twins(model, values)
            expected = [
                field.get_db_prep_save(field.pre_save(theirs, add), connection) for field in fields
            ]
            prepared = rows._row_params(ours, rows._columns(model, add), add, connection)
            assert _same(prepared, expected)

        ours, theirs = _twins(model, values)
        if theirs.pk is None:
            continue
        _assert_same(
            # every column but the key, then the key
            _outcome(lambda: rows._save_params(ours, connection)),
            _outcome(
                lambda: [
                    *(
                        field.get_db_prep_save(field.pre_save(theirs, False), connection)
                        for field in fields
                        if not field.primary_key
                    ),
                    model._meta.pk.get_db_prep_value(theirs.pk, connection),
                ]
            ),
            f"{model._meta.label}: {values}",
        )


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_an_insert_sends_every_column_but_a_missing_automatic_key_and_database_defaults(model):
    fields = rows._fields(model)
    for pk in (None, 12345, "pay_x"):
        for db_defaulted in (None, *fields):
            obj, _ = _twins(model, {model._meta.pk.attname: pk})
            if db_defaulted is not None:
                obj.__dict__[db_defaulted.attname] = DatabaseDefault(1, output_field=db_defaulted)

            shape = rows._insert_plan(obj)

            returned = [
                field
                for field in fields
                if (
                    field.primary_key and getattr(obj, field.attname) is None and field.db_returning
                )
                or isinstance(getattr(obj, field.attname), DatabaseDefault)
            ]
            assert list(shape.returned) == returned
            assert list(shape.sent) == [field for field in fields if field not in returned]
            assert shape.sent_columns == tuple(field.column for field in shape.sent)
            assert [column.field for column in shape.prepared] == list(shape.sent)
            assert rows._insert_plan(obj) is shape  # computed once per model and shape


def test_common_columns_skip_django_s_calls_and_the_rest_do_not():
    """The point of the exercise: plain columns are read straight off the row; JSON, IP
    addresses, generated ids and auto_now times still go through their fields."""

    def direct(model: type[models.Model], add: bool) -> set[str]:
        return {column.field.name for column in rows._columns(model, add) if column.attname}

    insert = direct(Payment, True)
    assert {"merchant", "status", "amount_minor", "currency", "livemode", "authorized_at"} <= insert
    assert not {"id", "metadata", "method_details", "customer_ip", "created", "updated"} & insert
    assert "created" in direct(Payment, False)  # auto_now_add: set on insert only
    assert "updated" not in direct(Payment, False)  # auto_now: refreshed on every save
    assert {"payment", "from_status", "to_status"} <= direct(PaymentEvent, True)


def test_an_update_of_listed_fields_sends_what_django_would():
    payment = Payment(
        merchant_id="mer_listed", amount_minor=1234, currency="EUR", customer_ip="192.0.2.7"
    )
    payment.id = "pay_listed"
    names = ("provider", "merchant_id", "customer_ip", "amount_minor", "updated", "created")
    ours, theirs = payment, copy.copy(payment)
    columns, sql = rows._chosen(Payment, names)

    expected = [
        *(
            field.get_db_prep_save(field.pre_save(theirs, False), connection)
            for field in (Payment._meta.get_field(name) for name in names)
        ),
        Payment._meta.pk.get_db_prep_value(theirs.pk, connection),
    ]
    assert _same(rows._update_params(ours, columns, connection), expected)
    assert sql == (
        'UPDATE "payments" SET "provider" = %s, "merchant_id" = %s, "customer_ip" = %s, '
        '"amount" = %s, "updated" = %s, "ts" = %s WHERE "payment_id" = %s'
    )
