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
        livemode=False,
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
    bank = services.ensure_account(
        owner=unique("bank:raw"), kind="bank", currency="EUR", livemode=False
    )
    cash = services.ensure_account(
        owner=unique("bank:raw"), kind="bank", currency="EUR", livemode=False
    )
    posted = services.post_transaction(
        kind="adjustment",
        reference=unique("adj"),
        lines=[Line(account_id=bank, debit_minor=5), Line(account_id=cash, credit_minor=5)],
        livemode=False,
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
    bank = services.ensure_account(
        owner=unique("bank:raw"), kind="bank", currency="EUR", livemode=False
    )
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


# --- every partition carries the parent's statement-level guards ---------------------------


def _partition_of(cursor, transaction_id: int) -> str:
    cursor.execute(
        "SELECT tableoid::regclass::text FROM ledger_entries WHERE transaction_id = %s LIMIT 1",
        [transaction_id],
    )
    return cursor.fetchone()[0]


def _slip_into_partition(partition: str, txn_id: int, ts, accounts: tuple[int, int]) -> str:
    """Add a balanced pair of entries to an existing transaction, naming the partition."""
    return _raw_fails(
        f"INSERT INTO {partition} (transaction_id, payment_id, account_id, debit, credit, "
        "currency, ts, running_debit, running_credit) "
        "SELECT t.id, t.payment_id, l.account_id, l.debit, l.credit, 'EUR', t.ts, 0, 0 "
        "FROM ledger_transactions t, (VALUES (%s::bigint, 1, 0), (%s::bigint, 0, 1)) "
        "AS l (account_id, debit, credit) WHERE t.id = %s AND t.ts = %s",
        [accounts[0], accounts[1], txn_id, ts],
    )


def test_entries_inserted_straight_into_a_partition_are_refused(posted, eur_accounts):
    with connection.cursor() as cursor:
        partition = _partition_of(cursor, posted.id)
        cursor.execute("SELECT ts FROM ledger_transactions WHERE id = %s", [posted.id])
        ts = cursor.fetchone()[0]
    assert partition.startswith("ledger_entries_y")
    accounts = (eur_accounts["bank"], eur_accounts["payable"])
    assert _slip_into_partition(partition, posted.id, ts, accounts) == "LG005"


@pytest.mark.django_db(transaction=True)
def test_unbalanced_entry_inserted_into_a_partition_of_a_committed_transaction_is_refused():
    """The review's case: one unbalanced entry, straight into the month, after COMMIT."""
    bank = services.ensure_account(
        owner=unique("bank:raw"), kind="bank", currency="EUR", livemode=False
    )
    cash = services.ensure_account(
        owner=unique("bank:raw"), kind="bank", currency="EUR", livemode=False
    )
    posted = services.post_transaction(
        kind="adjustment",
        reference=unique("adj"),
        lines=[Line(account_id=bank, debit_minor=5), Line(account_id=cash, credit_minor=5)],
        livemode=False,
    )
    with connection.cursor() as cursor:
        partition = _partition_of(cursor, posted.id)
    with pytest.raises(DatabaseError) as info, connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {partition} (transaction_id, account_id, debit, credit, currency, ts, "
            "running_debit, running_credit) "
            "SELECT id, %s, 7, 0, 'EUR', ts, 0, 0 FROM ledger_transactions WHERE id = %s",
            [bank, posted.id],
        )
    assert info.value.__cause__.sqlstate == "LG005"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_entries WHERE transaction_id = %s", [posted.id])
        assert cursor.fetchone()[0] == 2


def test_every_partition_carries_the_statement_guards(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'ledger_entries'::regclass AND ("
            "  SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname IN "
            "  ('ledger_entries_one_statement', 'ledger_entries_no_truncate')) < 2"
        )
        unguarded = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ledger_entries'::regclass"
        )
        partitions = cursor.fetchone()[0]
    assert partitions >= 16  # 12 past months, this one, 3 ahead, default
    assert unguarded == []


def _raw_balanced_transaction(cursor, ts: str, accounts: tuple[int, int]) -> tuple[int, object]:
    """A balanced transaction inserted with raw SQL at ts, checked now (commit-time trigger)."""
    cursor.execute(
        "INSERT INTO ledger_transactions (kind, reference, ts) VALUES ('adjustment', %s, %s) "
        "RETURNING id, ts",
        [unique("raw"), ts],
    )
    txn_id, txn_ts = cursor.fetchone()
    cursor.execute(
        _TWO_ENTRIES_SQL,
        [txn_id, accounts[0], 9, 0, "EUR", txn_ts] + [txn_id, accounts[1], 0, 9, "EUR", txn_ts],
    )
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return txn_id, txn_ts


def test_partitions_created_later_carry_the_guards(eur_accounts):
    accounts = (eur_accounts["bank"], eur_accounts["payable"])
    with connection.cursor() as cursor:
        # DDL is transactional: the test's rollback drops the partition again.
        cursor.execute("SELECT ledger_ensure_partitions('2031-03-15', 1)")
        assert cursor.fetchone()[0] == 1
        txn_id, ts = _raw_balanced_transaction(cursor, "2031-03-20T10:00:00Z", accounts)
        assert _partition_of(cursor, txn_id) == "ledger_entries_y2031m03"
    assert _slip_into_partition("ledger_entries_y2031m03", txn_id, ts, accounts) == "LG005"
    assert _raw_fails("TRUNCATE ledger_entries_y2031m03") == "LG001"


def test_entries_dated_where_no_partition_exists_are_refused_not_parked(eur_accounts):
    """They would land in the default partition and block creating that month forever."""
    with (
        pytest.raises(DatabaseError) as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        _raw_balanced_transaction(cursor, "1990-01-10T00:00:00Z", (eur_accounts["bank"],) * 2)
    assert info.value.__cause__.sqlstate == "LG008"


def test_ensure_partitions_moves_rows_out_of_the_default_partition(eur_accounts):
    """Rows that reached the default partition (its guard bypassed by an owner) do not block
    creating their month: they move into it, same ids and running totals."""
    accounts = (eur_accounts["bank"], eur_accounts["payable"])
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE ledger_entries_default DISABLE TRIGGER ledger_entries_default_refuse"
        )
        txn_id, _ = _raw_balanced_transaction(cursor, "2040-05-10T12:00:00Z", accounts)
        cursor.execute(
            "ALTER TABLE ledger_entries_default ENABLE TRIGGER ledger_entries_default_refuse"
        )
        assert _partition_of(cursor, txn_id) == "ledger_entries_default"
        cursor.execute(
            "SELECT entry_id FROM ledger_entries WHERE transaction_id = %s ORDER BY 1", [txn_id]
        )
        entry_ids = [row[0] for row in cursor.fetchall()]

        cursor.execute("SELECT ledger_ensure_partitions('2040-04-01', 3)")
        assert cursor.fetchone()[0] == 3

        assert _partition_of(cursor, txn_id) == "ledger_entries_y2040m05"
        cursor.execute(
            "SELECT entry_id FROM ledger_entries WHERE transaction_id = %s ORDER BY 1", [txn_id]
        )
        assert [row[0] for row in cursor.fetchall()] == entry_ids
        cursor.execute("SELECT count(*) FROM ledger_entries_default WHERE ts >= '2040-04-01'")
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'ledger_entries_default'::regclass "
            "AND tgname = 'ledger_entries_append_only'"
        )
        assert cursor.fetchone()[0] == "O"  # the append-only guard is enabled again
    assert _raw_fails("TRUNCATE ledger_entries_y2040m05") == "LG001"
