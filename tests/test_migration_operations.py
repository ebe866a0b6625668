"""The tables every payment writes carry no `_like` (pattern_ops) indexes, and the operation that
drops them can be reversed and run again (config/migration_operations.py)."""

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
