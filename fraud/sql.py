"""fraud: raw SELECTs of the hot path, and sending several of them in one round trip.

Django's PostgreSQL backend binds parameters on the client (psycopg's `ClientCursor`) unless
`server_side_binding` is switched on; then one `execute` may carry several statements and each
result is read with `nextset()`. That saves a network round trip per statement on every
assessment. With server-side binding the statements simply go one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection

# The hot path sends at most: list hits, rules stamp, velocity.
MAX_STATEMENTS = 4


@dataclass(frozen=True)
class Query:
    """One SELECT and its named parameters (names must be unique across a batch)."""

    sql: str
    params: dict[str, Any]


def fetch_all(queries: list[Query]) -> list[list[tuple]]:
    """The rows of each query, in order, in one round trip when the driver allows it."""
    if len(queries) > MAX_STATEMENTS:
        raise ValueError(f"At most {MAX_STATEMENTS} statements per round trip.")
    params: dict[str, Any] = {}
    for query in queries:
        clash = params.keys() & query.params.keys()
        if clash:
            raise ValueError(f"Parameter names used twice in one batch: {sorted(clash)}")
        params.update(query.params)
    with connection.cursor() as cursor:
        if len(queries) == 1 or not isinstance(cursor.cursor, psycopg.ClientCursor):
            results = []
            for query in queries:
                cursor.execute(query.sql, query.params)
                results.append(cursor.fetchall())
            return results
        cursor.execute(";\n".join(query.sql for query in queries), params)
        results = [cursor.fetchall()]
        while cursor.nextset():
            results.append(cursor.fetchall())
    return results
