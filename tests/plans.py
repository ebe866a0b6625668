"""PostgreSQL's generic plan of a prepared statement, for tests of hot-path SQL.

Our connections prepare a statement after its fifth run (DB_PREPARE_THRESHOLD), and PostgreSQL
then keeps a generic plan, made without the parameters' values and with the table sizes of that
moment, until the next ANALYZE. A statement whose generic plan on an empty table is a sequential
scan goes on reading the whole table on every call while the table grows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from django.db import connection

_NAMED = re.compile(r"%\((\w+)\)s")
_POSITIONAL = re.compile(r"%s")


def _numbered(sql: str, params: Mapping[str, Any] | Sequence[Any]) -> tuple[str, list[Any]]:
    """`sql` with $1, $2, … for its `%(name)s` or `%s` placeholders, and the values in order."""
    if isinstance(params, Mapping):
        names = list(dict.fromkeys(_NAMED.findall(sql)))
        numbered = _NAMED.sub(lambda match: f"${names.index(match.group(1)) + 1}", sql)
        return numbered.replace("%%", "%"), [params[name] for name in names]
    counter = iter(range(1, len(params) + 1))
    numbered = _POSITIONAL.sub(lambda match: f"${next(counter)}", sql.replace("%%", "\0"))
    return numbered.replace("\0", "%"), list(params)


def generic_plan(sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> dict[str, Any]:
    """EXPLAIN of `sql` as a prepared statement, forced generic, with every table of the schema
    as never analyzed, inside the caller's transaction (which it leaves as it found it: the
    statistics are put back by rolling back to a savepoint; needs a superuser, as the test
    database's owner is here)."""
    numbered, values = _numbered(sql, params)
    connection.ensure_connection()
    # A client-side cursor: PREPARE's own $n must not be taken for the protocol's parameters.
    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute("SAVEPOINT generic_plan")
        # As on a fresh deployment (and in the load benchmark): no table analyzed yet, whatever
        # autovacuum did to this test database (an analyzed empty table plans differently).
        cursor.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0 "
            "WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')"
        )
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE generic_plan_under_test AS {numbered}")
        try:
            arguments = ", ".join(["%s"] * len(values))
            execute = "EXECUTE generic_plan_under_test" + (f"({arguments})" if values else "")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {execute}", values)
            (plan,) = cursor.fetchone()
        finally:
            cursor.execute("DEALLOCATE generic_plan_under_test")
            cursor.execute("ROLLBACK TO SAVEPOINT generic_plan")
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]["Plan"]


def nodes(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def sequential_scans(plan: Mapping[str, Any]) -> list[str]:
    """The tables the plan reads with a sequential scan."""
    return [node["Relation Name"] for node in nodes(plan) if node["Node Type"] == "Seq Scan"]
