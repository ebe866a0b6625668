"""Row statements for the payment hot path, without the ORM's query compiler.

Django builds the SQL of every `save()`, `create()` and queryset again on each call. For a model
of thirty columns that costs more CPU than PostgreSQL spends running the statement (a locked
`Payment` read: about 1.2 ms of Python against 0.2 ms of SQL). These helpers build each
statement once per model (and per shape: which columns, which WHERE clause) from the model's
own metadata, then only bind values. The ORM's field machinery still does the work around the
values — defaults, `auto_now`, `get_db_prep_save` on the way in, the backend's converters on the
way out — so a row written or read here is the row the ORM would have written or read.

What they skip, and callers must not need: model signals (`pre_save`/`post_save`), `clean()`,
and deferred or related-object loading. They run on the default connection, in the caller's
transaction (or in autocommit when there is none), like the ORM does.

    attempt = rows.insert(Attempt(...))
    payment = rows.fetch(Payment, "payment_id = %s", [payment_id], lock=True)
    rows.update(payment, ["status", "amount_captured_minor", "updated"])
    rows.save_together(payment, PaymentEvent(...))  # every column, and the event, at once
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault

M = TypeVar("M", bound=models.Model)

Converter = Callable[[Any, Any, Any], Any]


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(model._meta.concrete_fields)


@cache
def _select_list(model: type[models.Model]) -> str:
    return ", ".join(_quote(field.column) for field in _fields(model))


@cache
def _converters(model: type[models.Model]) -> tuple[tuple[int, tuple[Converter, ...], Any], ...]:
    """Per column, the backend's and the field's from-database converters (JSON decoding and
    the like), exactly as the ORM's compiler would apply them."""
    table = model._meta.db_table
    out = []
    for index, field in enumerate(_fields(model)):
        column = field.get_col(table)
        converters = tuple(
            connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        )
        if converters:
            out.append((index, converters, column))
    return tuple(out)


def _from_row(model: type[M], row: Sequence[Any]) -> M:
    values = list(row)
    for index, converters, column in _converters(model):
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return model.from_db(connection.alias, None, values)


@cache
def _select_sql(model: type[models.Model], where: str, lock: bool) -> str:
    # Identifiers come from model metadata and `where` from our own code, never from a request.
    table = _quote(model._meta.db_table)
    sql = f"SELECT {_select_list(model)} FROM {table} WHERE {where}"  # noqa: S608
    return sql + " FOR UPDATE" if lock else sql


def fetch(model: type[M], where: str, params: Sequence[Any], *, lock: bool = False) -> M | None:
    """The one row of `model` matching `where` (SQL over the model's columns, `%s` params), or
    None; `lock` takes its row lock until the caller's transaction ends (FOR UPDATE)."""
    with connection.cursor() as cursor:
        cursor.execute(_select_sql(model, where, lock), params)
        row = cursor.fetchone()
    return None if row is None else _from_row(model, row)


@cache
def _select_with_sql(model: type[models.Model], where: str, lock: bool, extra: str) -> str:
    table = _quote(model._meta.db_table)
    sql = f"SELECT {_select_list(model)}, {extra} FROM {table} WHERE {where}"  # noqa: S608
    return sql + f" FOR UPDATE OF {table}" if lock else sql


def fetch_with(
    model: type[M], where: str, params: Sequence[Any], *, extra: str, lock: bool = False
) -> tuple[M, Any] | None:
    """`fetch`, with one more value read in the same statement: `extra`, an SQL expression
    over the row's columns (a scalar subquery of another table, say), returned as the driver
    loads it. With `lock`, only `model`'s row is locked."""
    with connection.cursor() as cursor:
        cursor.execute(_select_with_sql(model, where, lock, extra), params)
        row = cursor.fetchone()
    return None if row is None else (_from_row(model, row[:-1]), row[-1])


def fetch_all(model: type[M], where: str, params: Sequence[Any], *, order_by: str = "") -> list[M]:
    """Every row of `model` matching `where`, in `order_by` (SQL) order if given."""
    sql = _select_sql(model, where + (f" ORDER BY {order_by}" if order_by else ""), False)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_from_row(model, row) for row in cursor.fetchall()]


def _is_db_default(value: Any) -> bool:
    return isinstance(value, DatabaseDefault)


@cache
def _insert_sql(
    model: type[models.Model], columns: tuple[str, ...], returning: tuple[str, ...], rows: int
) -> str:
    table = _quote(model._meta.db_table)
    names = ", ".join(_quote(column) for column in columns)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * rows)}"  # noqa: S608
    if returning:
        sql += " RETURNING " + ", ".join(_quote(column) for column in returning)
    return sql


def _insert_plan(obj: models.Model) -> tuple[list[models.Field], list[models.Field]]:
    """The fields this row sends, and those the database fills in and hands back: an automatic
    primary key not set yet, and fields left to their `db_default`."""
    sent, returned = [], []
    for field in _fields(type(obj)):
        value = getattr(obj, field.attname)
        if (field.primary_key and value is None and field.db_returning) or _is_db_default(value):
            returned.append(field)
        else:
            sent.append(field)
    return sent, returned


# A CTE of `_together_sql`: model, columns sent, columns returned, rows.
Shape = tuple[type[models.Model], tuple[str, ...], tuple[str, ...], int]


@dataclass(frozen=True)
class Update:
    """An `update_where` to run inside another statement (`save_together(..., also=…)`): the rows
    of `model` matching `where` (SQL over its columns, with `params`) get these values, keyed by
    field or attribute name. Another module hands one over when its row changes together with
    the caller's (fraud's outcome of a payment, written with the payment's state change)."""

    model: type[models.Model]
    values: dict[str, Any]
    where: str
    params: tuple[Any, ...]

    def fields(self) -> list[models.Field]:
        return [self.model._meta.get_field(name) for name in self.values]

    def sql_params(self) -> list[Any]:
        prepared = [
            field.get_db_prep_save(value, connection)
            for field, value in zip(self.fields(), self.values.values(), strict=True)
        ]
        return [*prepared, *self.params]

    def shape(self) -> tuple[type[models.Model], tuple[str, ...], str]:
        return self.model, tuple(field.column for field in self.fields()), self.where


@cache
def _together_sql(
    groups: tuple[Shape, ...],
    saved: type[models.Model] | None,
    also: tuple[tuple[type[models.Model], tuple[str, ...], str], ...] = (),
) -> str:
    """One statement: the UPDATE of `saved` (if any), one INSERT per group and the `also`
    UPDATEs, as data-modifying CTEs; the final SELECT returns one row of what the database
    filled in."""
    ctes, columns, joined = [], [], []
    if saved is not None:
        update = _update_sql(saved, _saved_columns(saved), _pk_where(saved))
        ctes.append(f"u AS ({update} RETURNING 1 AS n)")
        columns.append("(SELECT count(*) FROM u)")
    for index, (model, set_columns, where) in enumerate(also):
        ctes.append(f"a{index} AS ({_update_sql(model, set_columns, where)} RETURNING 1 AS n)")
    for index, (model, sent, returned, count) in enumerate(groups):
        name = f"i{index}"
        ctes.append(f"{name} AS ({_insert_sql(model, sent, returned, count)})")
        if count == 1:
            columns += [f"{name}.{_quote(column)}" for column in returned]
            joined.append(name)
        else:  # its key, ascending: an automatic key in the order the sequence handed it out
            key = _quote(returned[0])
            columns.append(f"ARRAY(SELECT {key} FROM {name} ORDER BY {key})")  # noqa: S608
    sql = f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}"
    return sql + (f" FROM {', '.join(joined)}" if joined else "")


def _row_params(obj: models.Model, fields: Sequence[models.Field]) -> list[Any]:
    return [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def _mark_saved(obj: models.Model) -> None:
    obj._state.adding = False
    obj._state.db = connection.alias


def _write_together(
    saved: models.Model | None, inserted: Sequence[models.Model], also: Sequence[Update] = ()
) -> int:
    """Consecutive rows of one table (and one shape) share one INSERT, so they are stored in
    the order given; separate CTEs run in no promised order, and a sequence's ids would not."""
    groups: list[tuple[list[models.Field], list[models.Field], list[models.Model]]] = []
    for obj in inserted:
        sent, returned = _insert_plan(obj)
        last = groups[-1] if groups else None
        if last and type(last[2][0]) is type(obj) and (last[0], last[1]) == (sent, returned):
            last[2].append(obj)
        else:
            groups.append((sent, returned, [obj]))
    shapes, params = [], [] if saved is None else _save_params(saved)
    for update in also:
        params += update.sql_params()
    for sent, returned, objs in groups:
        pk = objs[0]._meta.pk
        if len(objs) > 1 and returned and returned != [pk]:
            raise ValueError("rows of one table written together get back no more than their key")
        # Every CTE returns at least the key (a data-modifying CTE must return to be read).
        shapes.append(
            (
                type(objs[0]),
                tuple(field.column for field in sent),
                tuple(field.column for field in returned or [pk]),
                len(objs),
            )
        )
        for obj in objs:
            params += _row_params(obj, sent)
    with connection.cursor() as cursor:
        sql = _together_sql(
            tuple(shapes),
            None if saved is None else type(saved),
            tuple(update.shape() for update in also),
        )
        cursor.execute(sql, params)
        row = iter(cursor.fetchone())
    updated = next(row) if saved is not None else 0
    for _, returned, objs in groups:
        if len(objs) == 1:
            values = [next(row) for _ in returned or [None]]
            for field, value in zip(returned, values, strict=False):
                setattr(objs[0], field.attname, value)
        else:
            keys = next(row)
            for obj, key in zip(objs, keys, strict=True):
                if returned:  # an automatic key; a key drawn here is already set
                    setattr(obj, returned[0].attname, key)
        for obj in objs:
            _mark_saved(obj)
    return updated


def insert(obj: M) -> M:
    """INSERT one row (what `save(force_insert=True)` does, without signals)."""
    _write_together(None, [obj])
    return obj


def insert_together(*objs: models.Model) -> None:
    """INSERT rows of different tables in one statement (data-modifying CTEs): one round trip,
    and atomic without BEGIN/COMMIT. A row may reference another of the same call (foreign keys
    are checked when the statement ends); ids drawn in Python (prefixed ids) make that possible
    before the INSERT. Sets what the database returned and marks every row saved."""
    _write_together(None, objs)


def save_together(obj: models.Model, *new: models.Model, also: Sequence[Update] = ()) -> int:
    """UPDATE every column of `obj`'s row (what `save()` does for a loaded instance, without
    signals), INSERT the new rows and run the `also` updates, in one statement (a state change,
    its log lines and what changes with it); returns the number of rows the UPDATE of `obj`
    changed (0: the row is gone, nothing falls back to an INSERT)."""
    return _write_together(obj, new, also)


def _saved_columns(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(field.column for field in _fields(model) if not field.primary_key)


def _pk_where(model: type[models.Model]) -> str:
    return f"{_quote(model._meta.pk.column)} = %s"


def _update_params(obj: models.Model, fields: Sequence[models.Field]) -> list[Any]:
    """The SET values (`auto_now` refreshed), then the key for `_pk_where`."""
    values = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in fields]
    return [*values, obj._meta.pk.get_db_prep_value(obj.pk, connection)]


def _save_params(obj: models.Model) -> list[Any]:
    return _update_params(obj, [field for field in _fields(type(obj)) if not field.primary_key])


@cache
def _update_sql(model: type[models.Model], columns: tuple[str, ...], where: str) -> str:
    sets = ", ".join(f"{_quote(column)} = %s" for column in columns)
    return f"UPDATE {_quote(model._meta.db_table)} SET {sets} WHERE {where}"  # noqa: S608


def update(obj: models.Model, fields: Sequence[str]) -> int:
    """UPDATE these fields of the row (by primary key), what `save(update_fields=…)` does
    without signals; an `auto_now` field is refreshed only when it is listed. Returns the
    number of rows updated (0: the row is gone)."""
    chosen = [obj._meta.get_field(name) for name in fields]
    sql = _update_sql(type(obj), tuple(field.column for field in chosen), _pk_where(type(obj)))
    with connection.cursor() as cursor:
        cursor.execute(sql, _update_params(obj, chosen))
        return cursor.rowcount


def update_where(
    model: type[models.Model], values: dict[str, Any], where: str, params: Sequence[Any]
) -> int:
    """UPDATE the rows matching `where` (SQL over the model's columns) to these values, keyed by
    field name or attribute name (`merchant_id`): `queryset.update(**values)` for plain values,
    no expressions, no model instances. Returns the number of rows updated."""
    return run(Update(model, values, where, tuple(params)))


def run(update: Update) -> int:
    """Run an `Update` on its own; returns the number of rows updated."""
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(*update.shape()), update.sql_params())
        return cursor.rowcount
