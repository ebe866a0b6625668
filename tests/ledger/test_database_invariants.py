"""PostgreSQL itself enforces the ledger's invariants: proved with raw SQL, not the ORM."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from ledger import services
from ledger.services import Line
from tests.ledger.conftest import unique


@pytest.fixture
def posted(eur_accounts):
    txn = services.post_transaction(
        kind="capture",
        reference=unique("cap"),
        payment_id=unique("pay"),
        lines=[
            Line(account_id=eur_accounts["receivable"], debit_minor=100),
            Line(account_id=eur_accounts["payable"], credit_minor=100),
        ],
    )
    with connection.cursor() as cursor:
        # Fire the posting's commit-time checks now (the test never commits), so later
        # statements are judged on their own and not refused for pending trigger events.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return txn


def _raw_fails(sql: str, params: list | None = None, *, immediate: bool = False) -> str:
    """Run SQL in a savepoint; return the SQLSTATE PostgreSQL refused it with."""
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params or [])
        if immediate:  # fire the deferred (commit-time) constraint triggers now
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return info.value.__cause__.sqlstate


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entries SET debit = debit + 1 WHERE transaction_id = %s",
        "DELETE FROM ledger_entries WHERE transaction_id = %s",
        "UPDATE ledger_transactions SET description = 'x' WHERE id = %s",
        "DELETE FROM ledger_transactions WHERE id = %s",
    ],
)
def test_entries_and_transactions_cannot_be_updated_or_deleted(posted, sql):
    assert _raw_fails(sql, [posted.id]) == "LG001"


@pytest.mark.parametrize(
    "table", ["ledger_entries", "ledger_transactions", "ledger_entries_default", "ledger_accounts"]
)
def test_ledger_tables_cannot_be_truncated(posted, table):
    assert _raw_fails(f"TRUNCATE {table} CASCADE") == "LG001"


def test_current_month_partition_cannot_be_truncated_directly(posted):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM ledger_entries WHERE transaction_id = %s LIMIT 1",
            [posted.id],
        )
        partition = cursor.fetchone()[0]
    assert partition.startswith("ledger_entries_y")
    assert _raw_fails(f"TRUNCATE {partition}") == "LG001"


def _insert_txn(cursor, payment_id: str = "") -> tuple[int, object]:
    cursor.execute(
        "INSERT INTO ledger_transactions (payment_id, kind, reference, ts) "
        "VALUES (%s, 'adjustment', %s, now()) RETURNING id, ts",
        [payment_id, unique("raw")],
    )
    return cursor.fetchone()


_ENTRY_SQL = (
    "INSERT INTO ledger_entries (transaction_id, account_id, debit, credit, currency, ts, "
    "running_debit, running_credit) VALUES (%s, %s, %s, %s, %s, %s, 0, 0)"
)
_TWO_ENTRIES_SQL = _ENTRY_SQL + ", (%s, %s, %s, %s, %s, %s, 0, 0)"


def test_entry_with_both_or_neither_side_is_refused(eur_accounts):
    for debit, credit in [(5, 5), (0, 0), (-5, 0)]:
        with (
            pytest.raises(DatabaseError) as info,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            txn_id, ts = _insert_txn(cursor)
            cursor.execute(_ENTRY_SQL, [txn_id, eur_accounts["bank"], debit, credit, "EUR", ts])
        assert info.value.__cause__.sqlstate == "23514"  # check_violation


def test_entry_currency_must_equal_its_accounts(eur_accounts):
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        txn_id, ts = _insert_txn(cursor)
        cursor.execute(_ENTRY_SQL, [txn_id, eur_accounts["bank"], 5, 0, "USD", ts])
    assert info.value.__cause__.sqlstate == "23503"  # foreign_key_violation


def test_unbalanced_transaction_is_refused_at_commit(eur_accounts):
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        txn_id, ts = _insert_txn(cursor)
        cursor.execute(
            _TWO_ENTRIES_SQL,
            [txn_id, eur_accounts["bank"], 100, 0, "EUR", ts]
            + [txn_id, eur_accounts["payable"], 0, 99, "EUR", ts],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert info.value.__cause__.sqlstate == "LG002"


def test_entries_of_one_transaction_split_over_two_statements_are_refused(eur_accounts):
    """Each entry alone is fine; the second INSERT into the same transaction is not."""
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        txn_id, ts = _insert_txn(cursor)
        cursor.execute(_ENTRY_SQL, [txn_id, eur_accounts["bank"], 100, 0, "EUR", ts])
        cursor.execute(_ENTRY_SQL, [txn_id, eur_accounts["payable"], 0, 100, "EUR", ts])
    assert info.value.__cause__.sqlstate == "LG005"


def test_transaction_row_with_a_forged_creator_is_refused(eur_accounts):
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ledger_transactions (kind, reference, ts, created_xid) "
            "VALUES ('adjustment', %s, now(), '1')",
            [unique("raw")],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert info.value.__cause__.sqlstate == "LG006"


def test_transaction_with_fewer_than_two_entries_is_refused(eur_accounts):
    for entries in (0, 1):
        with (
            pytest.raises(DatabaseError) as info,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            txn_id, ts = _insert_txn(cursor)
            if entries:
                cursor.execute(_ENTRY_SQL, [txn_id, eur_accounts["bank"], 100, 0, "EUR", ts])
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        assert info.value.__cause__.sqlstate == "LG003"


def test_entry_added_later_to_a_balanced_transaction_is_refused(posted, eur_accounts):
    with connection.cursor() as cursor:
        cursor.execute("SELECT ts, payment_id FROM ledger_transactions WHERE id = %s", [posted.id])
        ts, payment_id = cursor.fetchone()
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ledger_entries (transaction_id, payment_id, account_id, debit, "
            "credit, currency, ts, running_debit, running_credit) "
            "VALUES (%s, %s, %s, 1, 0, 'EUR', %s, 0, 0), (%s, %s, %s, 0, 1, 'EUR', %s, 0, 0)",
            [posted.id, payment_id, eur_accounts["bank"], ts]
            + [posted.id, payment_id, eur_accounts["payable"], ts],
        )
    assert info.value.__cause__.sqlstate == "LG005"


@pytest.mark.django_db(transaction=True)
def test_entries_cannot_be_added_to_a_committed_transaction():
    bank = services.ensure_account(owner=unique("bank:raw"), kind="bank", currency="EUR")
    cash = services.ensure_account(owner=unique("bank:raw"), kind="bank", currency="EUR")
    posted = services.post_transaction(
        kind="adjustment",
        reference=unique("adj"),
        lines=[Line(account_id=bank, debit_minor=5), Line(account_id=cash, credit_minor=5)],
    )
    with pytest.raises(DatabaseError) as info, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_entries (transaction_id, account_id, debit, credit, currency, ts, "
            "running_debit, running_credit) SELECT id, %s, 7, 0, 'EUR', ts, 0, 0 "
            "FROM ledger_transactions WHERE id = %s "
            "UNION ALL SELECT id, %s, 0, 7, 'EUR', ts, 0, 0 FROM ledger_transactions WHERE id = %s",
            [bank, posted.id, cash, posted.id],
        )
    assert info.value.__cause__.sqlstate == "LG005"


@pytest.mark.django_db(transaction=True)
def test_unbalanced_raw_transaction_fails_when_it_really_commits():
    """No SET CONSTRAINTS: the deferred trigger fires at a real COMMIT."""
    bank = services.ensure_account(owner=unique("bank:raw"), kind="bank", currency="EUR")
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        txn_id, ts = _insert_txn(cursor)
        cursor.execute(
            _TWO_ENTRIES_SQL, [txn_id, bank, 100, 0, "EUR", ts] + [txn_id, bank, 0, 50, "EUR", ts]
        )
    assert info.value.__cause__.sqlstate == "LG002"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_entries WHERE account_id = %s", [bank])
        assert cursor.fetchone()[0] == 0
