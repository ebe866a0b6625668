"""The tables every payment writes carry no `_like` (pattern_ops) indexes, and the operation that
drops them can be reversed and run again (core/migration_operations.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

HOT_TABLES = [
    "payments",
    "payments_paymentevent",
    "routing_attempt",
    "routing_decision",
    "fraud_assessment",
    "tokenization_detokenizationevent",
    "merchants_idempotencykey",
]


def _pattern_indexes(tables: list[str]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexdef LIKE '%%pattern_ops%%'",
            [tables],
        )
        return sorted(row[0] for row in cursor.fetchall())


def test_the_hot_tables_have_no_pattern_ops_indexes():
    assert _pattern_indexes(HOT_TABLES) == []
    with connection.cursor() as cursor:  # the ordinary indexes are still there
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'payments'")
        assert cursor.fetchone()[0] >= 7


def test_dropping_them_is_reversible():
    executor = MigrationExecutor(connection)
    executor.migrate([("payments", "0001_initial")])
    try:
        recreated = _pattern_indexes(["payments", "payments_paymentevent"])
        assert (
            len(recreated) == 6
        )  # payment id, merchant, token, provider reference, attempt, event
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert _pattern_indexes(HOT_TABLES) == []


def _indexes(tables: list[str]) -> dict[str, tuple[str, list[str]]]:
    """The non-partial, non-primary indexes of the tables: name → (table, unique, keys), a key
    being a column's name or an expression's text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, t.relname, i.indisunique, "
            "ARRAY(SELECT pg_get_indexdef(i.indexrelid, n, true) "
            "      FROM generate_series(1, i.indnkeyatts) n ORDER BY n) "
            "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname = ANY(%s) AND i.indpred IS NULL AND NOT i.indisprimary",
            [tables],
        )
        return {name: (table, unique, columns) for name, table, unique, columns in cursor}


def test_no_hot_table_index_is_the_leading_part_of_another():
    """Each such index costs an entry on every insert (and every non-HOT update) and serves no
    lookup the longer one does not."""
    indexes = _indexes(HOT_TABLES)
    redundant = [
        (name, other)
        for name, (table, unique, columns) in indexes.items()
        for other, (other_table, _, other_columns) in indexes.items()
        if name != other
        and table == other_table
        and not unique
        and other_columns[: len(columns)] == columns
    ]
    assert redundant == []


def _foreign_keys() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, oid FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY("
            "ARRAY['payments', 'payments_paymentevent', 'merchants_idempotencykey']::regclass[])"
        )
        return dict(cursor.fetchall())


def test_dropping_a_foreign_keys_own_index_is_reversible_and_keeps_the_constraint():
    own = {
        "payments": ["merchant_id"],
        "payments_paymentevent": ["payment_id"],
        "merchants_idempotencykey": ["merchant_id"],
    }
    before = _foreign_keys()
    executor = MigrationExecutor(connection)
    executor.migrate(
        [("payments", "0002_drop_like_indexes"), ("merchants", "0002_drop_like_indexes")]
    )
    try:
        back = sorted((table, columns) for table, _, columns in _indexes(list(own)).values())
        for table, columns in own.items():
            assert (table, columns) in back
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    after = sorted((table, columns) for table, _, columns in _indexes(list(own)).values())
    for table, columns in own.items():
        assert (table, columns) not in after
    # The foreign keys were neither dropped nor re-validated: the very same constraints.
    assert _foreign_keys() == before
    assert len(before) == 3
