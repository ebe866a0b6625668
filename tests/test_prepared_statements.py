"""The database connection prepares repeated statements (config/settings/base.py): Django leaves
psycopg's preparation off unless `prepare_threshold` is set, and server-side binding alone
still has PostgreSQL parse and plan every statement."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _prepared() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_a_statement_run_a_few_times_is_prepared_on_the_server():
    sql = "SELECT count(*) FROM payments WHERE payment_id = %s AND amount > %s"
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5
    for attempt in range(6):
        with connection.cursor() as cursor:
            cursor.execute(sql, [f"pay_{attempt}", 0])
            assert cursor.fetchone() == (0,)

    assert any("FROM payments WHERE payment_id = $1 AND amount > $2" in s for s in _prepared())
