"""The trial balance passes on a sound ledger and reports (and logs) each kind of damage."""

from __future__ import annotations

import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from ledger import services, tasks
from ledger.models import TrialBalanceRun
from ledger.services import Line
from tests.ledger.conftest import unique


@pytest.fixture
def booked(eur_accounts):
    for amount_minor in (100, 250, 75):
        services.post_transaction(
            kind="capture",
            reference=unique("cap"),
            lines=[
                Line(account_id=eur_accounts["receivable"], debit_minor=amount_minor),
                Line(account_id=eur_accounts["payable"], credit_minor=amount_minor),
            ],
            livemode=False,
        )
    return eur_accounts


def test_sound_ledger_passes_and_the_run_is_stored(booked):
    run = services.run_trial_balance(livemode=False)
    assert run.ok, run.failures
    assert run.entries_count >= 6 and run.transactions_count >= 3
    assert TrialBalanceRun.objects.filter(pk=run.pk, ok=True).exists()


def test_nightly_task_runs_the_trial_balance_of_each_mode(booked):
    assert tasks.run_trial_balance.delay().get() is True
    runs = TrialBalanceRun.objects.order_by("livemode")
    assert [(run.livemode, run.ok) for run in runs] == [(False, True), (True, True)]


def test_tampered_cached_balance_fails_and_logs_an_error(booked, caplog):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account_balances SET credit_total = credit_total + 1 "
            "WHERE account_id = %s",
            [booked["payable"]],
        )
    with caplog.at_level(logging.ERROR, logger="ledger.trial_balance"):
        run = services.run_trial_balance(livemode=False)
    assert not run.ok
    checks = {f["check"] for f in run.failures}
    assert {"cached_balance_differs", "running_total_differs"} <= checks
    assert any(r.levelno == logging.ERROR for r in caplog.records)


class _Rollback(Exception):
    pass


def test_unbalanced_uncommitted_transaction_is_reported(booked):
    """Inside a savepoint the deferred trigger has not fired yet; roll it back afterwards."""
    with pytest.raises(_Rollback), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transactions (kind, reference, ts) "
            "VALUES ('adjustment', %s, now()) RETURNING id, ts",
            [unique("raw")],
        )
        txn_id, ts = cursor.fetchone()
        cursor.execute(
            "INSERT INTO ledger_entries (transaction_id, account_id, debit, credit, currency, ts, "
            "running_debit, running_credit) VALUES (%s, %s, 10, 0, 'EUR', %s, 0, 0)",
            [txn_id, booked["bank"], ts],
        )
        run = services.run_trial_balance(livemode=False)
        raise _Rollback
    checks = {f["check"] for f in run.failures}
    assert {
        "transaction_unbalanced",
        "currency_unbalanced",
        "transaction_too_few_entries",
    } <= checks


def test_management_command_exits_nonzero_on_failure(booked, capsys):
    call_command("ledger_trial_balance")
    out = capsys.readouterr().out
    assert "trial balance (test) OK" in out and "trial balance (live) OK" in out
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account_balances SET entry_count = entry_count + 1 "
            "WHERE account_id = %s",
            [booked["bank"]],
        )
    with pytest.raises(CommandError):
        call_command("ledger_trial_balance")


def test_partitions_are_created_ahead(db):
    services.ensure_partitions(months_ahead=24)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ledger_entries'::regclass"
        )
        assert cursor.fetchone()[0] >= 25
    assert services.ensure_partitions(months_ahead=24) == 0


def test_trial_balance_flags_a_partition_without_its_guards(db):
    """A month attached by hand (not by ledger_ensure_partitions) would let entries bypass the
    statement checks: the nightly run reports it."""
    with connection.cursor() as cursor:  # rolled back with the test
        cursor.execute(
            "CREATE TABLE ledger_entries_y2033m01 PARTITION OF ledger_entries "
            "FOR VALUES FROM ('2033-01-01') TO ('2033-02-01')"
        )
    run = services.run_trial_balance(livemode=False)
    assert not run.ok
    missing = {
        f["trigger"]
        for f in run.failures
        if f["check"] == "partition_unguarded" and f["partition"] == "ledger_entries_y2033m01"
    }
    assert missing == {"ledger_entries_one_statement", "ledger_entries_no_truncate"}
