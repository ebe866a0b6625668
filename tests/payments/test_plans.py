"""Every statement a payment sends keeps to indexes on the tables that grow with traffic, also in
the generic plan PostgreSQL makes of it on an empty database and keeps until the next ANALYZE
(tests/plans.py). One such statement was found reading routing_attempt in full on every payment
under load.

What it does not see: a statement whose generic plan takes an index that narrows little and
filters the rest (only sequential scans are flagged), and the statements inside PL/pgSQL
functions and triggers (the ledger's), whose plans EXPLAIN of the calling statement does not
show."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.plans import generic_plan, sequential_scans

# Tables whose size follows the configuration (providers, rules, a merchant's accounts and
# endpoints), not the number of payments, so a scan of them stays a scan of a few rows; and the
# database cache of a machine without Redis, which Django culls to MAX_ENTRIES (counting it on
# every write).
BOUNDED_TABLES = {
    "fraud_rule",
    "ledger_accounts",
    "ledger_account_balances",
    "merchants_webhookendpoint",
    "routing_breakerstate",
    "routing_provider",
    "routing_routingrule",
    "qr_cache",
}


@pytest.fixture
def statements():
    sent: list[tuple[str, object]] = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


def _scans(statements) -> dict[str, list[str]]:
    """The statements (first 160 characters) whose generic plan scans a growing table."""
    scans = {}
    for sql, params in statements:
        if sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            continue
        tables = set(sequential_scans(generic_plan(sql, params or ()))) - BOUNDED_TABLES
        if tables:
            scans[sql[:160]] = sorted(tables)
    return scans


@pytest.mark.parametrize("capture", [True, False], ids=["sale", "authorization"])
def test_no_statement_creating_a_payment_scans_a_growing_table(pay, statements, capture):
    # The first payment of a merchant creates its ledger accounts: pay once before looking.
    assert pay(capture=capture).status_code == 201
    statements.clear()
    response = pay(capture=capture)
    assert response.status_code == 201, response.content
    assert len(statements) >= 6

    assert _scans(statements) == {}


def test_no_statement_of_capture_refund_or_cancel_scans_a_growing_table(api, pay, statements):
    captured = pay(capture=False).json()["id"]
    cancelled = pay(capture=False).json()["id"]
    statements.clear()

    responses = [
        api.post(f"/api/payments/{captured}/capture", {"amount": 6000}, format="json"),
        api.post(f"/api/payments/{captured}/refund", {"amount": 1000}, format="json"),
        api.post(f"/api/payments/{cancelled}/cancel", {}, format="json"),
        api.get(f"/api/payments/{captured}"),
    ]
    assert [response.status_code for response in responses] == [200, 200, 200, 200], [
        response.content for response in responses
    ]
    assert len(statements) >= 8

    assert _scans(statements) == {}
