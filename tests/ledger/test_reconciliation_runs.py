"""The nightly orchestration (payments/reconciliation.py) and `manage.py reconcile`: a report
that cannot be fetched is retried with backoff and the run shown as failed, a late report is
reconciled when it comes, the command prints one JSON object — and the trial balance holds."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command

from ledger import services as ledger
from ledger.reconciliation.models import ReconciliationRun
from payments import reconciliation
from routing import services as routing
from routing.adapters import SettlementReportError
from routing.interface import SettlementLine, SettlementReport
from tests.ledger.reconciliation_helpers import Book


@pytest.fixture
def book(db, monkeypatch) -> Book:
    book = Book()
    monkeypatch.setattr(routing, "settlement_delay_days", lambda *, provider: 0)
    return book


class FlakyProvider:
    """A provider whose report is not available for the first `failures` fetches."""

    def __init__(
        self, book: Book, lines: list[SettlementLine], failures: int, only: dt.date | None = None
    ) -> None:
        self.book, self.lines, self.failures, self.calls = book, lines, failures, 0
        self.only = only  # the day the lines belong to (other days: an empty report)

    def __call__(self, *, provider: str, date: str) -> SettlementReport:
        self.calls += 1
        if self.calls <= self.failures:
            raise SettlementReportError("report not available yet")
        lines = self.lines if self.only in (None, dt.date.fromisoformat(date)) else []
        raw = f"{date}\n".encode() + "\n".join(map(repr, lines)).encode()
        return SettlementReport(
            provider=provider, date=date, filename=f"{date}.csv", raw=raw, lines=tuple(lines)
        )


def _capture_line(book: Book, amount_minor: int) -> SettlementLine:
    paid = book.capture(amount_minor)
    return SettlementLine(
        type="capture",
        reference=paid.attempt_id,
        provider_reference=paid.provider_reference,
        gross_minor=amount_minor,
        fee_minor=10,
        net_minor=amount_minor - 10,
        currency="EUR",
        date=book.today.isoformat(),
    )


def _trial_balance_ok() -> None:
    for livemode in (False, True):
        assert ledger.run_trial_balance(livemode=livemode).ok


def test_a_fetch_that_keeps_failing_is_retried_with_backoff_and_the_run_marked_failed(
    book, monkeypatch
):
    provider = FlakyProvider(book, [], failures=99)
    monkeypatch.setattr(routing, "fetch_settlement_report", provider)
    waits: list[float] = []

    result = reconciliation.reconcile_provider_day(
        provider=book.provider, date=book.today, attempts=3, backoff_s=2, sleep=waits.append
    )

    assert (result.status, provider.calls, waits) == ("failed", 3, [2, 4])
    run = ReconciliationRun.objects.get(provider=book.provider)
    assert (run.status, run.fetch_attempts, run.report_id) == ("failed", 3, None)
    assert "report not available yet" in run.error
    _trial_balance_ok()


def test_a_fetch_that_succeeds_on_a_retry_is_reconciled(book, monkeypatch):
    provider = FlakyProvider(book, [_capture_line(book, 1_000)], failures=1)
    monkeypatch.setattr(routing, "fetch_settlement_report", provider)
    result = reconciliation.reconcile_provider_day(
        provider=book.provider, date=book.today, attempts=3, backoff_s=0, sleep=lambda s: None
    )
    assert (result.status, result.matched) == ("ok", 1)
    assert ReconciliationRun.objects.get(provider=book.provider).fetch_attempts == 2


def test_a_late_report_is_reconciled_by_the_next_nights_run(book, monkeypatch, settings):
    settings.RECONCILIATION_FETCH_BACKOFF_S = 0
    lines = [_capture_line(book, 2_500)]
    yesterday = book.today
    monkeypatch.setattr(routing, "fetch_settlement_report", FlakyProvider(book, lines, 99))
    reconciliation.reconcile_day(date=yesterday, providers=[book.provider], sleep=lambda s: None)
    assert ReconciliationRun.objects.get(provider=book.provider).status == "failed"

    # the next night: yesterday's report has arrived (today's is there too)
    arrived = FlakyProvider(book, lines, 0, only=yesterday)
    monkeypatch.setattr(routing, "fetch_settlement_report", arrived)
    reconciliation.reconcile_day(
        date=yesterday + dt.timedelta(days=1), providers=[book.provider], sleep=lambda s: None
    )

    late = ReconciliationRun.objects.get(provider=book.provider, report_date=yesterday)
    assert (late.status, late.matched_count, late.error) == ("ok", 1, "")
    _trial_balance_ok()


def test_the_command_prints_one_json_summary(book, monkeypatch):
    lines = [_capture_line(book, 1_000), _capture_line(book, 2_000)]
    broken = SettlementLine(
        type="capture", reference="att_unknown", provider_reference="", gross_minor=5,
        fee_minor=0, net_minor=5, currency="EUR", date=book.today.isoformat(),
    )  # fmt: skip
    monkeypatch.setattr(
        routing, "fetch_settlement_report", FlakyProvider(book, lines + [broken], 0)
    )
    out = StringIO()

    call_command(
        "reconcile", "--provider", book.provider, "--date", book.today.isoformat(), "--json",
        stdout=out,
    )  # fmt: skip

    summary = json.loads(out.getvalue())
    assert set(summary) == {"date", "providers", "matched", "breaks", "totals", "duration_s"}
    assert summary["date"] == book.today.isoformat()
    assert summary["providers"][book.provider]["status"] == "breaks"
    assert (summary["matched"], summary["breaks"]) == (2, {"missing_in_ledger": 1})
    assert summary["totals"]["EUR"]["gross_minor"] == 3_005
    _trial_balance_ok()


def test_the_command_prints_a_readable_summary(book, monkeypatch):
    monkeypatch.setattr(
        routing, "fetch_settlement_report", FlakyProvider(book, [_capture_line(book, 700)], 0)
    )
    out = StringIO()
    call_command("reconcile", "--provider", book.provider, "--date", book.today.isoformat(),
                 stdout=out)  # fmt: skip
    assert f"{book.provider} (test): ok, 1 lines, 1 matched, breaks: none" in out.getvalue()


def test_the_nightly_task_is_scheduled_in_beat():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-settlements"]
    assert entry["task"] == "payments.tasks.reconcile_settlements"
