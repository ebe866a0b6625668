"""core/db_backend: psycopg keeps its parse of a statement that binds more than 50 values (the
payment's booking statements bind ~60–90), so the same SQL text is not split again each time."""

from __future__ import annotations

import pytest
from django.db import connection
from psycopg import _queries

from core.db_backend import base as db_backend

pytestmark = pytest.mark.django_db

WIDE_SQL = "SELECT " + ", ".join(["%s::int"] * 80) + " -- test_db_backend_statement_cache"


def _run_twice() -> tuple[int, list[int]]:
    """Cache hits psycopg counted while the wide statement ran twice, and its last row."""
    before = _queries._query2pg.cache_info().hits
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(WIDE_SQL, list(range(80)))
            row = list(cursor.fetchone())
    return _queries._query2pg.cache_info().hits - before, row


def test_a_statement_binding_80_values_is_parsed_once():
    assert _queries.MAX_CACHED_STATEMENT_PARAMS == db_backend.CACHED_STATEMENT_PARAMS
    hits, row = _run_twice()
    assert row == list(range(80))  # the values still go where they belong
    assert hits >= 1


def test_with_psycopgs_own_limit_it_would_be_parsed_every_time(monkeypatch):
    monkeypatch.setattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", 50)
    hits, row = _run_twice()
    assert row == list(range(80))
    assert hits == 0


def test_the_limit_is_never_lowered(monkeypatch):
    monkeypatch.setattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", 500)
    db_backend.cache_long_statements()
    assert _queries.MAX_CACHED_STATEMENT_PARAMS == 500
