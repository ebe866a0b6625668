"""Row statements for the payment hot path, without the ORM's query compiler.

Django builds the SQL of every `save()`, `create()` and queryset again on each call. For a model
of thirty columns that costs more CPU than PostgreSQL spends running the statement (a locked
`Payment` read: about 1.2 ms of Python against 0.2 ms of SQL). These helpers build each
statement once per model (and per shape: which columns, which WHERE clause) from the model's
own metadata, then only bind values. The ORM's field machinery still does the work around the
values — defaults, `auto_now`, `get_db_prep_save` on the way in, the backend's converters on the
way out — so a row written or read here is the row the ORM would have written or read. (Where
`pre_save` and `get_db_prep_save` would hand a value over unchanged — a `str` to a CharField —
the value is taken as it is: see `_direct`.)

What they skip, and callers must not need: model signals (`pre_save`/`post_save`), `clean()`,
and deferred or related-object loading. They run on the default connection, in the caller's
transaction (or in autocommit when there is none), like the ORM does.

    attempt = rows.insert(Attempt(...))
    payment = rows.fetch(Payment, "payment_id = %s", [payment_id], lock=True)
    rows.update(payment, ["status", "amount_captured_minor", "updated"])
    rows.save_together(payment, PaymentEvent(...))  # every column, and the event, at once
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
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


# How a value reaches the statement. Django prepares each one with
# `field.get_db_prep_save(field.pre_save(obj, add), connection)`: half a dozen method calls per
# column, which for most columns hand the value over as it is (a `str` to a CharField) or
# through one adapter (an `int` to psycopg's Int8 for a BigIntegerField). `_direct` says, per
# field, for which value types that is so, read from the field's own methods: a field class
# whose preparing methods are not exactly Django's stock ones (JSON, decimals, IP addresses,
# binary, arrays, our own fields, any subclass overriding one of them) gets none, and every
# value of a type not listed (an enum member, a lazy string, an expression, a naive datetime)
# goes through Django's code as before. tests/test_rows_params.py compares both, field by field.

Adapter = Callable[[Any], Any]
# Per value type, the adapter to apply (None: the value as it is).
Direct = Mapping[type, Adapter | None]

_DJANGO = object()  # an adapter's answer: this value needs Django's own preparation


def _aware(value: datetime.datetime) -> Any:
    """An aware datetime goes as it is; a naive one takes Django's path (which warns and makes
    it aware in the default timezone)."""
    return value if value.utcoffset() is not None else _DJANGO


def _text_direct(field: models.Field) -> dict[type, Adapter | None]:
    return {str: None}


def _bool_direct(field: models.Field) -> dict[type, Adapter | None]:
    return {bool: None}


def _integer_direct(field: models.Field) -> dict[type, Adapter | None]:
    adapt = type(connection.ops).adapt_integerfield_value
    if adapt is PostgresOperations.adapt_integerfield_value:
        wrapper = connection.ops.integerfield_type_map.get(field.get_internal_type())
        return {int: wrapper} if wrapper is not None else {}
    if adapt is BaseDatabaseOperations.adapt_integerfield_value:
        return {int: None}
    return {}


def _auto_direct(field: models.Field) -> dict[type, Adapter | None]:
    validate = type(connection.ops).validate_autopk_value
    return {int: None} if validate is BaseDatabaseOperations.validate_autopk_value else {}


def _datetime_direct(field: models.Field) -> dict[type, Adapter | None]:
    adapt = type(connection.ops).adapt_datetimefield_value
    return (
        {datetime.datetime: _aware} if adapt is PostgresOperations.adapt_datetimefield_value else {}
    )


def _preparing_methods(cls: type[models.Field]) -> tuple[Callable, ...]:
    return (cls.get_db_prep_save, cls.get_db_prep_value, cls.get_prep_value, cls.to_python)


# Field classes whose preparing methods are exactly those of one of Django's stock fields (its
# subclasses that override none: EmailField, SlugField, BigIntegerField, FSMField, …), and
# which values that lets through as they are.
_STOCK_PREPARATION: dict[tuple[Callable, ...], Callable[[models.Field], dict]] = {
    _preparing_methods(models.CharField): _text_direct,
    _preparing_methods(models.TextField): _text_direct,
    _preparing_methods(models.BooleanField): _bool_direct,
    _preparing_methods(models.IntegerField): _integer_direct,
    _preparing_methods(models.AutoField): _auto_direct,
    _preparing_methods(models.DateTimeField): _datetime_direct,
}


def _direct(field: models.Field) -> dict[type, Adapter | None]:
    """The value types `field.get_db_prep_save` hands over as they are, or through one adapter
    (on this connection's backend); empty when unsure: every value then goes through Django."""
    cls = type(field)
    if (
        cls.get_db_prep_save is models.ForeignKey.get_db_prep_save
        and cls.get_db_prep_value is models.ForeignKey.get_db_prep_value
    ):
        # ForeignKey.get_db_prep_save: None and (for some targets) "" become NULL, anything
        # else is the target field's value.
        direct = _direct(field.target_field)
        if str in direct and (
            not field.target_field.empty_strings_allowed
            or connection.features.interprets_empty_strings_as_nulls
        ):
            del direct[str]
    else:
        builder = _STOCK_PREPARATION.get(_preparing_methods(cls))
        direct = builder(field) if builder is not None else {}
    if direct and field.get_db_prep_save(None, connection) is None:
        direct[type(None)] = None
    return direct


def _reads_attribute(field: models.Field, add: bool) -> bool:
    """Whether `field.pre_save(obj, add)` only reads the attribute (no generated id, no
    auto_now time to set)."""
    pre_save = type(field).pre_save
    if pre_save is models.Field.pre_save:
        return True
    if pre_save in (models.DateTimeField.pre_save, models.DateField.pre_save):
        return not field.auto_now and not (field.auto_now_add and add)
    return False


class Column(NamedTuple):
    """One column of a row to write: its field, the attribute to read when `pre_save` would only
    read it (else None), and what of it goes as it is (`_direct`)."""

    field: models.Field
    attname: str | None
    direct: Direct


@cache
def _columns(model: type[models.Model], add: bool) -> tuple[Column, ...]:
    """Per field of `_fields(model)`, how its value is prepared for an INSERT (add) or an
    UPDATE."""
    out = []
    for field in _fields(model):
        direct = _direct(field) if _reads_attribute(field, add) else {}
        out.append(Column(field, field.attname if direct else None, direct))
    return tuple(out)


def _default_connection() -> BaseDatabaseWrapper:
    """This thread's default connection, what `connection` stands for: looked up once per
    statement and handed to Django's preparation, instead of on each of its `connection.ops`
    reads (each a thread-local lookup, ~4 µs)."""
    return connections[DEFAULT_DB_ALIAS]


def _row_params(
    obj: models.Model, columns: Iterable[Column], add: bool, db: BaseDatabaseWrapper
) -> list[Any]:
    """`[field.get_db_prep_save(field.pre_save(obj, add), db) ...]`, the same values, with
    Django's calls skipped where they would hand the value over unchanged (`_direct`)."""
    params = []
    for field, attname, direct in columns:
        if attname is not None:
            value = _direct_value(direct, getattr(obj, attname))
            if value is not _DJANGO:
                params.append(value)
                continue
        params.append(field.get_db_prep_save(field.pre_save(obj, add), db))
    return params


def _direct_value(direct: dict[type, Any], value: Any) -> Any:
    """The value as Django would prepare it, without Django's calls (`_direct` says how, by
    type), or `_DJANGO` when Django's own calls must prepare it."""
    adapt = direct.get(type(value), _DJANGO)
    if adapt is None:
        return value
    return _DJANGO if adapt is _DJANGO else adapt(value)


def _values_params(
    columns: Iterable[Column], values: Iterable[Any], db: BaseDatabaseWrapper
) -> list[Any]:
    """`field.get_db_prep_save(value, db)` of each value (no `pre_save`), the same way."""
    params = []
    for (field, _, direct), value in zip(columns, values, strict=True):
        prepared = _direct_value(direct, value)
        params.append(field.get_db_prep_save(value, db) if prepared is _DJANGO else prepared)
    return params


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


class InsertShape(NamedTuple):
    """What an INSERT of one row sends (fields, their columns, how each value is prepared) and
    what the database fills in and hands back (fields, and the columns the statement returns:
    those, or the key when there are none)."""

    model: type[models.Model]
    sent: tuple[models.Field, ...]
    returned: tuple[models.Field, ...]
    sent_columns: tuple[str, ...]
    returning_columns: tuple[str, ...]
    prepared: tuple[Column, ...]


@cache
def _returnable(model: type[models.Model]) -> tuple[tuple[str, bool], ...]:
    """Per field: its attribute, and whether it is a key the database draws when left None."""
    return tuple(
        (field.attname, field.primary_key and field.db_returning) for field in _fields(model)
    )


@cache
def _insert_shape(model: type[models.Model], returned: tuple[int, ...]) -> InsertShape:
    """The shape of a row of `model` whose fields at these indexes are left to the database."""
    fields, columns = _fields(model), _columns(model, True)
    sent = tuple(index for index in range(len(fields)) if index not in returned)
    returned_fields = tuple(fields[index] for index in returned)
    return InsertShape(
        model=model,
        sent=tuple(fields[index] for index in sent),
        returned=returned_fields,
        sent_columns=tuple(fields[index].column for index in sent),
        returning_columns=tuple(field.column for field in returned_fields or [model._meta.pk]),
        prepared=tuple(columns[index] for index in sent),
    )


def _insert_plan(obj: models.Model) -> InsertShape:
    """The fields this row sends, and those the database fills in and hands back: an automatic
    primary key not set yet, and fields left to their `db_default`."""
    returned: tuple[int, ...] = ()
    for index, (attname, automatic_key) in enumerate(_returnable(type(obj))):
        value = getattr(obj, attname)
        if (automatic_key and value is None) or isinstance(value, DatabaseDefault):
            returned += (index,)
    return _insert_shape(type(obj), returned)


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
        return [column.field for column in _named_columns(self.model, tuple(self.values))]

    def sql_params(self, db: BaseDatabaseWrapper | None = None) -> list[Any]:
        columns = _named_columns(self.model, tuple(self.values))
        db = _default_connection() if db is None else db
        return [*_values_params(columns, self.values.values(), db), *self.params]

    def shape(self) -> tuple[type[models.Model], tuple[str, ...], str]:
        return self.model, _set_columns(self.model, tuple(self.values)), self.where


@dataclass(frozen=True)
class Call:
    """A set-returning SQL function run at the end of a `save_together_when` statement, only
    when its UPDATE changed the row: another module's work that belongs in the same statement
    (the ledger's postings of the state change). `sql` is the call (`fn(%s, %s)`), with
    `params`; `columns` name what it returns, which comes back as one list per column, in the
    function's row order."""

    sql: str
    params: tuple[Any, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Saved:
    """What `save_together_when` did."""

    updated: int  # 0: the condition no longer held (or the row is gone); nothing else counts
    extra: Any  # the `extra` expression's value (None when nothing was updated)
    called: tuple[list[Any], ...]  # `then`'s rows, one list per column (empty lists: not run)


@cache
def _named_columns(model: type[models.Model], names: tuple[str, ...]) -> tuple[Column, ...]:
    """The fields of these names (or attribute names), for values given as they are."""
    fields = [model._meta.get_field(name) for name in names]
    return tuple(Column(field, None, _direct(field)) for field in fields)


@cache
def _set_columns(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(column.field.column for column in _named_columns(model, names))


@cache
def _together_sql(
    groups: tuple[Shape, ...],
    saved: type[models.Model] | None,
    also: tuple[tuple[type[models.Model], tuple[str, ...], str], ...] = (),
    when: str = "",
    extra: str = "",
    then: tuple[str, tuple[str, ...]] | None = None,
) -> str:
    """One statement: the UPDATE of `saved` (if any; only while `when` holds, if given), one
    INSERT per group and the `also` UPDATEs, as data-modifying CTEs; the final SELECT returns
    one row of what the database filled in, then `extra`'s value (an expression over `u`, the
    updated row) and `then`'s rows as arrays (a call run only when the row was updated)."""
    ctes, columns, joined = [], [], []
    if saved is not None:
        where = _pk_where(saved) + (f" AND ({when})" if when else "")
        update = _update_sql(saved, _saved_columns(saved), where)
        ctes.append(f"u AS ({update} RETURNING {'*' if extra else '1 AS n'})")
        columns.append("(SELECT count(*) FROM u)")
        if extra:
            columns.append(f"(SELECT {extra} FROM u)")  # noqa: S608
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
    if then is not None:
        call, returned = then
        # One row of arrays, in the function's row order (ORDINALITY); not run at all unless
        # the UPDATE changed the row (a one-time filter on u).
        aggregates = ", ".join(
            f"array_agg(c.{_quote(name)} ORDER BY c.{_ORDINALITY})" for name in returned
        )
        joined.append(
            f"LATERAL (SELECT {aggregates} FROM {call} WITH ORDINALITY AS c "  # noqa: S608
            f"({', '.join(_quote(name) for name in returned)}, {_ORDINALITY}) "
            "WHERE EXISTS (SELECT FROM u)) called"
        )
        columns.append("called.*")
    sql = f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}"
    return sql + (f" FROM {', '.join(joined)}" if joined else "")


_ORDINALITY = "rows_call_row_number"  # a name no function's own column is likely to have


def _mark_saved(obj: models.Model, alias: str) -> None:
    obj._state.adding = False
    obj._state.db = alias  # the connection's, looked up once per statement (a thread-local read)


def _write_together(
    saved: models.Model | None,
    inserted: Sequence[models.Model],
    also: Sequence[Update] = (),
    when: tuple[str, Sequence[Any]] = ("", ()),
    extra: str = "",
    then: Call | None = None,
) -> Saved:
    """Consecutive rows of one table (and one shape) share one INSERT, so they are stored in
    the order given; separate CTEs run in no promised order, and a sequence's ids would not."""
    if saved is None and (when[0] or extra or then is not None):
        raise ValueError("when, extra and then belong to the UPDATE of a saved row")
    groups: list[tuple[InsertShape, list[models.Model]]] = []
    for obj in inserted:
        shape = _insert_plan(obj)  # one object per model and shape: the same table and columns
        if groups and groups[-1][0] is shape:
            groups[-1][1].append(obj)
        else:
            groups.append((shape, [obj]))
    db = _default_connection()
    shapes, params = [], [] if saved is None else _save_params(saved, db)
    params += when[1]
    for update in also:
        params += update.sql_params(db)
    for shape, objs in groups:
        if len(objs) > 1 and shape.returned and shape.returned != (shape.model._meta.pk,):
            raise ValueError("rows of one table written together get back no more than their key")
        # Every CTE returns at least the key (a data-modifying CTE must return to be read).
        shapes.append((shape.model, shape.sent_columns, shape.returning_columns, len(objs)))
        for obj in objs:
            params += _row_params(obj, shape.prepared, True, db)
    with db.cursor() as cursor:
        sql = _together_sql(
            tuple(shapes),
            None if saved is None else type(saved),
            tuple(update.shape() for update in also),
            when[0],
            extra,
            None if then is None else (then.sql, then.columns),
        )
        cursor.execute(sql, [*params, *(then.params if then is not None else ())])
        row = iter(cursor.fetchone())
    updated = next(row) if saved is not None else 0
    extra_value = next(row) if extra else None
    for shape, objs in groups:
        returned = shape.returned
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
            _mark_saved(obj, db.alias)
    called = () if then is None else tuple(value or [] for value in row)
    return Saved(updated=updated, extra=extra_value, called=called)


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
    return _write_together(obj, new, also).updated


def save_together_when(
    obj: models.Model,
    *new: models.Model,
    when: str,
    params: Sequence[Any] = (),
    also: Sequence[Update] = (),
    extra: str = "",
    then: Call | None = None,
) -> Saved:
    """`save_together` as a compare-and-set: the UPDATE of `obj`'s row applies only while
    `when` (SQL over the row's current columns, with `params`) still holds — instead of a
    locked read first. In the same statement: `extra`, an SQL expression over `u` (the updated
    row, as RETURNING * gives it; a scalar subquery of another table, say — written without
    parameters), and `then`, a function call run only when the row was updated. The INSERTs of
    `new` and the `also` updates are not conditional: call it inside a transaction and roll
    that back when `updated` is 0."""
    return _write_together(obj, new, also, (when, params), extra, then)


def _saved_columns(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(field.column for field in _fields(model) if not field.primary_key)


def _pk_where(model: type[models.Model]) -> str:
    return f"{_quote(model._meta.pk.column)} = %s"


def _update_params(
    obj: models.Model, columns: Sequence[Column], db: BaseDatabaseWrapper
) -> list[Any]:
    """The SET values (`auto_now` refreshed), then the key for `_pk_where`."""
    return [*_row_params(obj, columns, False, db), _key_param(obj, db)]


def _key_param(obj: models.Model, db: BaseDatabaseWrapper) -> Any:
    """`obj._meta.pk.get_db_prep_value(obj.pk, db)`, taken as it is for the value types
    `_direct` lists for the key (for those, get_db_prep_value and get_db_prep_save agree; a
    None key goes Django's way)."""
    key, pk = obj.pk, obj._meta.pk
    adapt = _key_direct(type(obj)).get(type(key), _DJANGO)
    if adapt is None:
        return key
    if adapt is not _DJANGO and (adapted := adapt(key)) is not _DJANGO:
        return adapted
    return pk.get_db_prep_value(key, db)


@cache
def _key_direct(model: type[models.Model]) -> Direct:
    direct = _direct(model._meta.pk)
    direct.pop(type(None), None)
    return direct


@cache
def _saved_prepared(model: type[models.Model]) -> tuple[Column, ...]:
    return tuple(column for column in _columns(model, False) if not column.field.primary_key)


def _save_params(obj: models.Model, db: BaseDatabaseWrapper) -> list[Any]:
    return _update_params(obj, _saved_prepared(type(obj)), db)


@cache
def _chosen(model: type[models.Model], names: tuple[str, ...]) -> tuple[tuple[Column, ...], str]:
    """`update`'s prepared columns and statement for these field names."""
    by_field = {column.field: column for column in _columns(model, False)}
    fields = [model._meta.get_field(name) for name in names]
    columns = tuple(by_field.get(field, Column(field, None, {})) for field in fields)
    sql = _update_sql(model, tuple(column.field.column for column in columns), _pk_where(model))
    return columns, sql


@cache
def _update_sql(model: type[models.Model], columns: tuple[str, ...], where: str) -> str:
    sets = ", ".join(f"{_quote(column)} = %s" for column in columns)
    return f"UPDATE {_quote(model._meta.db_table)} SET {sets} WHERE {where}"  # noqa: S608


def update(obj: models.Model, fields: Sequence[str]) -> int:
    """UPDATE these fields of the row (by primary key), what `save(update_fields=…)` does
    without signals; an `auto_now` field is refreshed only when it is listed. Returns the
    number of rows updated (0: the row is gone)."""
    columns, sql = _chosen(type(obj), tuple(fields))
    db = _default_connection()
    with db.cursor() as cursor:
        cursor.execute(sql, _update_params(obj, columns, db))
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
    db = _default_connection()
    with db.cursor() as cursor:
        cursor.execute(_update_sql(*update.shape()), update.sql_params(db))
        return cursor.rowcount
