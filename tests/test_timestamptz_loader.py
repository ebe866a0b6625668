"""core/db_backend: timestamptz values load through psycopg's C loader, and what comes back is
exactly what Django's own PostgreSQL backend returns — same instants, microseconds, errors and
the very tzinfo object (`datetime.timezone.utc`). Where the C loader would differ, Django's
loader must still be the one used."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import DataError, connection, connections
from django.db.backends.postgresql import base as django_postgresql
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from django.db.models.functions import Now
from django.test import override_settings
from psycopg.pq import Format

from core.db_backend import base as db_backend

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid

# What PostgreSQL sends (as text, in session TimeZone UTC) and what Django gives for it.
VALUES = {
    "2024-02-29 23:59:59.123456+00": datetime.datetime(2024, 2, 29, 23, 59, 59, 123456, UTC),
    "2024-06-01 12:00:00+02": datetime.datetime(2024, 6, 1, 10, 0, tzinfo=UTC),
    "2000-01-01 00:00:00.000001+00": datetime.datetime(2000, 1, 1, 0, 0, 0, 1, UTC),
    "1969-12-31 23:59:59.5+00": datetime.datetime(1969, 12, 31, 23, 59, 59, 500000, UTC),
    "0001-01-01 00:00:00+00": datetime.datetime(1, 1, 1, tzinfo=UTC),
    "9999-12-31 23:59:59.999999+00": datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, UTC),
}
SELECT_VALUES = "SELECT " + ", ".join(f"'{text}'::timestamptz" for text in VALUES)
OUT_OF_RANGE = ["infinity", "-infinity", "0001-12-31 23:00:00+00 BC", "10000-01-01 00:00:00+00"]


@contextmanager
def _stock_django(**settings_overrides) -> Iterator[django_postgresql.DatabaseWrapper]:
    """A connection to the test database through Django's unmodified PostgreSQL backend.

    Extra connections take the alias "default": django.contrib.postgres looks its type OIDs up
    through connections[alias] whenever a connection opens.
    """
    stock = django_postgresql.DatabaseWrapper(
        {**connection.settings_dict, **settings_overrides}, alias="default"
    )
    try:
        yield stock
    finally:
        stock.close()


def _fetch(wrapper, sql: str) -> tuple:
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def _tzinfos(row) -> list:
    return [value.tzinfo for value in row]


def _text_loader(cursor) -> type:
    """The loader class the psycopg cursor under a Django cursor uses for text timestamptz."""
    return cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


def test_django_connections_load_timestamptz_with_psycopgs_c_loader():
    assert type(connections["default"]) is db_backend.DatabaseWrapper
    impl = psycopg.pq.__impl__
    if os.environ.get("PSYCOPG_IMPL") != "python":
        # pyproject depends on psycopg[binary]: the C implementation must be the one loaded.
        assert impl in ("binary", "c")
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)

    if impl in ("binary", "c"):
        assert loader.__module__ == f"psycopg_{impl}._psycopg"
        assert loader.__name__ == "TimestamptzLoader"
        assert loader is db_backend.C_TIMESTAMPTZ_LOADER
        assert not issubclass(loader, BaseTzLoader)
        with connection.cursor() as cursor:
            cursor.execute(SELECT_VALUES)
            cursor.fetchone()
            assert _text_loader(cursor) is loader  # no per-cursor fallback either
            assert cursor.cursor.pgresult.fformat(0) == Format.TEXT
    else:
        assert db_backend.C_TIMESTAMPTZ_LOADER is None
        assert issubclass(loader, BaseTzLoader)


def test_raw_cursor_values_are_djangos_values_in_datetime_timezone_utc():
    row = _fetch(connection, SELECT_VALUES)

    assert list(row) == list(VALUES.values())
    assert all(tzinfo is UTC for tzinfo in _tzinfos(row))
    assert [value.microsecond for value in row] == [v.microsecond for v in VALUES.values()]
    with _stock_django() as stock:
        stock_row = _fetch(stock, SELECT_VALUES)
    assert row == stock_row
    assert _tzinfos(row) == _tzinfos(stock_row)
    assert all(tzinfo is UTC for tzinfo in _tzinfos(stock_row))


def test_now_loads_as_an_aware_utc_datetime_as_with_django():
    before = datetime.datetime.now(UTC)
    (now,) = _fetch(connection, "SELECT clock_timestamp()")
    after = datetime.datetime.now(UTC)

    assert now.tzinfo is UTC
    assert before - datetime.timedelta(seconds=5) <= now <= after + datetime.timedelta(seconds=5)


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_values_python_cannot_hold_fail_as_with_django(text):
    sql = f"SELECT '{text}'::timestamptz"
    with pytest.raises(DataError) as ours:
        _fetch(connection, sql)
    with _stock_django() as stock, pytest.raises(DataError) as django_s:
        _fetch(stock, sql)

    assert str(ours.value) == str(django_s.value)
    assert type(ours.value.__cause__) is type(django_s.value.__cause__)


@pytest.mark.parametrize(
    "moment",
    [
        datetime.datetime(2024, 2, 29, 23, 59, 59, 123456, UTC),
        datetime.datetime(1, 1, 1, tzinfo=UTC),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, UTC),
        datetime.datetime(1969, 7, 20, 20, 17, 40, 1, UTC),
    ],
)
def test_orm_reads_back_what_it_wrote(moment):
    later = moment + datetime.timedelta(microseconds=1 if moment.year == 1 else -1)
    user = User.objects.create(username=f"tz-{moment.year}", date_joined=moment, last_login=later)

    stored = User.objects.get(pk=user.pk)
    listed = User.objects.filter(pk=user.pk).values_list("date_joined", "last_login").get()
    # .iterator() reads through a named (server-side) cursor.
    (iterated,) = User.objects.filter(pk=user.pk).iterator(chunk_size=10)

    for got in (stored, iterated):
        assert (got.date_joined, got.last_login) == (moment, later)
        assert got.date_joined.tzinfo is UTC and got.last_login.tzinfo is UTC
        assert got.date_joined.microsecond == moment.microsecond
    assert listed == (moment, later)
    assert _tzinfos(listed) == [UTC, UTC]


def test_orm_expressions_and_filters_load_aware_utc_values():
    moment = datetime.datetime(2030, 5, 17, 8, 30, 0, 654321, UTC)
    user = User.objects.create(username="tz-expr", date_joined=moment)

    found = User.objects.annotate(db_now=Now()).get(date_joined=moment)

    assert found.pk == user.pk
    assert found.db_now.tzinfo is UTC
    assert found.date_joined == moment and found.date_joined.tzinfo is UTC


def test_named_cursors_use_the_c_loader_too():
    if db_backend.C_TIMESTAMPTZ_LOADER is None:
        pytest.skip("psycopg runs its Python implementation")
    with connection.chunked_cursor() as cursor:
        cursor.execute(SELECT_VALUES)
        row = cursor.fetchone()
        assert _text_loader(cursor) is db_backend.C_TIMESTAMPTZ_LOADER

    assert list(row) == list(VALUES.values())
    assert all(tzinfo is UTC for tzinfo in _tzinfos(row))


def test_a_session_timezone_other_than_utc_falls_back_to_djangos_loader():
    sql = "SELECT '2024-06-01 12:00:00+00'::timestamptz"
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Europe/Rome'")
    try:
        with connection.cursor() as cursor:
            assert issubclass(_text_loader(cursor), BaseTzLoader)
            cursor.execute(sql)
            ours = cursor.fetchone()
        with _stock_django() as stock:
            with stock.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'Europe/Rome'")
            django_s = _fetch(stock, sql)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")

    # Django relabels the session's wall time as UTC; the fallback keeps that, warts and all.
    assert ours == django_s
    assert _tzinfos(ours) == _tzinfos(django_s) == [UTC]
    with connection.cursor() as cursor:  # back on UTC: the C loader again
        assert _text_loader(cursor) is connection.connection.adapters.get_loader(
            TIMESTAMPTZ_OID, Format.TEXT
        )


def test_use_tz_off_gives_naive_values_as_with_django():
    with override_settings(USE_TZ=False):
        row = _fetch(connection, SELECT_VALUES)
        with _stock_django() as stock:
            stock_row = _fetch(stock, SELECT_VALUES)

    assert row == stock_row
    assert row == tuple(value.replace(tzinfo=None) for value in VALUES.values())
    assert _tzinfos(row) == [None] * len(VALUES)
    assert _fetch(connection, SELECT_VALUES)[0].tzinfo is UTC  # and aware again after


def _fetch_keeping_djangos_loader(settings_dict: dict) -> tuple:
    """SELECT_VALUES through our backend opened with these settings, which must have kept
    Django's own loader."""
    ours = db_backend.DatabaseWrapper(settings_dict, alias="default")
    try:
        ours.ensure_connection()
        assert issubclass(
            ours.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT), BaseTzLoader
        )
        return _fetch(ours, SELECT_VALUES)
    finally:
        ours.close()


def test_a_database_time_zone_setting_keeps_djangos_loader():
    # DATABASES TIME_ZONE "UTC" makes Django return ZoneInfo("UTC"), not timezone.utc.
    row = _fetch_keeping_djangos_loader({**connection.settings_dict, "TIME_ZONE": "UTC"})
    with _stock_django(TIME_ZONE="UTC") as stock:
        stock_row = _fetch(stock, SELECT_VALUES)

    assert row == stock_row
    assert _tzinfos(row) == _tzinfos(stock_row)
    assert type(row[0].tzinfo) is type(stock_row[0].tzinfo)


def test_without_psycopgs_c_implementation_djangos_loader_is_kept(monkeypatch):
    monkeypatch.setattr(db_backend, "C_TIMESTAMPTZ_LOADER", None)
    row = _fetch_keeping_djangos_loader({**connection.settings_dict})

    assert list(row) == list(VALUES.values())
    assert all(tzinfo is UTC for tzinfo in _tzinfos(row))


def test_binary_results_are_untouched():
    # Django registers no binary timestamptz loader; psycopg's default serves both backends.
    sql = SELECT_VALUES.replace("SELECT", "SELECT 1,", 1)
    connection.ensure_connection()
    with connection.connection.cursor(binary=True) as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()[1:]
        assert cursor.pgresult.fformat(1) == Format.BINARY
    with _stock_django() as stock:
        stock.ensure_connection()
        with stock.connection.cursor(binary=True) as cursor:
            cursor.execute(sql)
            stock_row = cursor.fetchone()[1:]

    assert row == stock_row == tuple(VALUES.values())
    assert _tzinfos(row) == _tzinfos(stock_row)


def test_client_side_binding_keeps_djangos_cursor_classes():
    # DB_SERVER_SIDE_BINDING=false: Django's ClientCursor and its own named-cursor class.
    options = {**connection.settings_dict["OPTIONS"], "server_side_binding": False}
    ours = db_backend.DatabaseWrapper(
        {**connection.settings_dict, "OPTIONS": options}, alias="default"
    )
    try:
        with ours.cursor() as cursor:
            assert type(cursor.cursor) is django_postgresql.Cursor
            cursor.execute(SELECT_VALUES)
            plain = cursor.fetchone()
        with ours.chunked_cursor() as cursor:
            assert type(cursor.cursor) is django_postgresql.ServerSideCursor
            cursor.execute(SELECT_VALUES)
            named = cursor.fetchone()
            if db_backend.C_TIMESTAMPTZ_LOADER is not None:
                assert _text_loader(cursor) is db_backend.C_TIMESTAMPTZ_LOADER
    finally:
        ours.close()

    for row in (plain, named):
        assert list(row) == list(VALUES.values())
        assert all(tzinfo is UTC for tzinfo in _tzinfos(row))
