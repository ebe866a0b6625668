"""PostgreSQL's generic plan of a prepared statement, for tests of hot-path SQL.

Our connections prepare a statement after its fifth run (DB_PREPARE_THRESHOLD), and PostgreSQL
then keeps a generic plan, made without the parameters' values and with the table sizes of that
moment, until the next ANALYZE. A statement whose generic plan on an empty table is a sequential
scan would go on reading the whole table on every call while the table grows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from django.db import connection

_NAMED = re.compile(r"%\((\w+)\)s")


def generic_plan(sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """EXPLAIN of `sql` (named `%(name)s` parameters) as a prepared statement, forced generic,
    inside the caller's transaction."""
    names = list(dict.fromkeys(_NAMED.findall(sql)))
    positional = _NAMED.sub(lambda match: f"${names.index(match.group(1)) + 1}", sql)
    arguments = ", ".join(["%s"] * len(names))
    connection.ensure_connection()
    # A client-side cursor: PREPARE's own $n must not be taken for the protocol's parameters.
    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE generic_plan_under_test AS {positional}")
        try:
            cursor.execute(
                f"EXPLAIN (FORMAT JSON) EXECUTE generic_plan_under_test({arguments})",
                [params[name] for name in names],
            )
            (plan,) = cursor.fetchone()
        finally:
            cursor.execute("DEALLOCATE generic_plan_under_test")
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
