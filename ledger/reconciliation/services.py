"""ledger.reconciliation: storing provider reports, matching them, posting settlements, breaks.

`reconcile_report` is the one entry point for a day's report (fetched by payments' nightly
orchestration, or uploaded by hand): it stores the file as received (once per sha256), COPYs
its lines into a staging table and classifies them in SQL (`matching.py`), opens a break per
line that did not match and per capture missing from the reports, posts the matched lines'
settlement through the ledger's posting service — one balanced `settlement` transaction per
report and currency, Dr bank + Dr psp_fees / Cr psp_receivable — and records the run. All of
it commits together; a re-run of the same report classifies nothing again, posts nothing again
(the settlement's reference names the report) and answers with the same result.

Finance resolves breaks with `resolve_break` (a reason, nothing posted) or `adjust_break` (a
documented `adjustment` between the provider's receivable — or the bank, for a payout — and
its suspense account, for the break's difference); each action is appended to `BreakAction`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from core.errors import NotFound
from ledger import services as ledger_services
from ledger.chart import provider_owner
from ledger.errors import LedgerInvalidPosting, LedgerInvalidState
from ledger.reconciliation import matching
from ledger.reconciliation.models import (
    Break,
    BreakAction,
    Outcome,
    ReconciledLine,
    ReconciliationRun,
    RunStatus,
    SettlementReport,
)

__all__ = [
    "ReportLine",
    "RunResult",
    "adjust_break",
    "reconcile_report",
    "record_breaks_export",
    "record_failed_run",
    "record_provider_references",
    "resolve_break",
]

MAX_REASON_CHARS = 500
SYSTEM_USER = "system:reconciliation"


@dataclass(frozen=True)
class ReportLine:
    """One settlement line as the ledger takes it (routing's SettlementLine, by value)."""

    type: str
    reference: str
    provider_reference: str
    gross_minor: int
    fee_minor: int
    net_minor: int
    currency: str
    payout_reference: str = ""


@dataclass(frozen=True)
class RunResult:
    run_id: int
    date: str
    provider: str
    livemode: bool
    status: str
    lines: int
    matched: int
    breaks: dict[str, int] = field(default_factory=dict)
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    duration_s: float = 0.0
    error: str = ""


def record_provider_references(
    *, provider: str, livemode: bool, references: Iterable[tuple[str, str, str]]
) -> int:
    """Remember which payment each (our reference, provider reference) belongs to: tuples of
    (reference, provider_reference, payment_id). Known references are left as they are.
    Returns how many were new."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS recon_refs")
        cursor.execute(
            "CREATE TEMP TABLE recon_refs (reference text, provider_reference text, "
            "payment_id text) ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            "COPY recon_refs (reference, provider_reference, payment_id) FROM STDIN"
        ) as copy:
            for row in references:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO ledger_recon_references "
            "(provider, livemode, reference, provider_reference, payment_id) "
            "SELECT DISTINCT ON (reference) %s, %s, reference, provider_reference, payment_id "
            "FROM recon_refs WHERE reference <> '' AND payment_id <> '' "
            "ORDER BY reference ON CONFLICT DO NOTHING",
            [provider, livemode],
        )
        return cursor.rowcount


def reconcile_report(
    *,
    provider: str,
    livemode: bool,
    report_date: dt.date,
    raw: bytes,
    filename: str,
    lines: Iterable[ReportLine],
    delay_days: int,
    fetch_attempts: int = 1,
    actor: str = SYSTEM_USER,
) -> RunResult:
    """Store, match, settle and record one provider's report for one day (see the module)."""
    started_s = time.monotonic()
    sha256 = hashlib.sha256(raw).hexdigest()
    with transaction.atomic():
        run = _locked_run(provider=provider, livemode=livemode, report_date=report_date)
        report, created = SettlementReport.objects.get_or_create(
            provider=provider,
            livemode=livemode,
            report_date=report_date,
            sha256=sha256,
            defaults=dict(filename=filename[:255], raw=raw, received_by=actor[:160]),
        )
        if created:
            report.lines_count = matching.stage_lines(_rows(lines))
            report.save(update_fields=["lines_count"])
            matching.classify_staged(
                report_id=report.pk, provider=provider, livemode=livemode, report_date=report_date
            )
            _post_settlement(report)
        else:
            matching.match_payouts(report_id=report.pk, livemode=livemode, report_date=report_date)
        _open_line_breaks(run, report)
        _close_settled_breaks(run, report)
        _open_missing_in_report(run, capture_date=report_date - dt.timedelta(days=delay_days))
        _summarise(run, report, fetch_attempts=fetch_attempts, started_s=started_s)
    return _result(run)


def record_failed_run(
    *, provider: str, livemode: bool, report_date: dt.date, error: str, fetch_attempts: int
) -> RunResult:
    """The report could not be fetched (after the retries): the run is shown as failed, never
    skipped. A run that already reconciled a report keeps its result."""
    with transaction.atomic():
        run = _locked_run(provider=provider, livemode=livemode, report_date=report_date)
        if run.report_id is None:
            run.status = RunStatus.FAILED
            run.error = error[:2000]
            run.fetch_attempts += fetch_attempts
            run.finished_at = timezone.now()
            run.save()
    return _result(run)


def _locked_run(*, provider: str, livemode: bool, report_date: dt.date) -> ReconciliationRun:
    run, _ = ReconciliationRun.objects.get_or_create(
        report_date=report_date, provider=provider, livemode=livemode
    )
    return ReconciliationRun.objects.select_for_update().get(pk=run.pk)


def _rows(lines: Iterable[ReportLine]) -> Iterable[tuple]:
    for line_no, line in enumerate(lines, start=1):
        yield (
            line_no,
            line.type,
            line.reference or "",
            line.provider_reference or "",
            line.payout_reference or "",
            int(line.gross_minor),
            int(line.fee_minor),
            int(line.net_minor),
            line.currency.upper(),
        )


# --- settlement ---------------------------------------------------------------------------------


def bank_owner(*, livemode: bool) -> str:
    """The bank account a provider's settlements land in: the mode's collection account."""
    account = (getattr(settings, "COLLECTION_ACCOUNTS", None) or {}).get(
        "live" if livemode else "test"
    ) or {}
    iban = (account.get("iban") or "").replace(" ", "").upper()
    return f"bank:{iban or 'settlement'}"


def _post_settlement(report: SettlementReport) -> None:
    """One balanced `settlement` per currency for the report's matched lines (payouts aside:
    they move nothing the settlement has not already booked to the bank)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT currency, sum(settled_minor), sum(settled_minor - net_minor), sum(net_minor) "
            "FROM ledger_recon_lines WHERE report_id = %s AND outcome = 'matched' "
            "AND type <> 'payout' GROUP BY currency ORDER BY currency",
            [report.pk],
        )
        sums = cursor.fetchall()
    owner = provider_owner(report.provider)
    for currency, receivable, fees, bank in sums:
        account = dict(currency=currency, livemode=report.livemode)
        signed = [
            (
                ledger_services.ensure_account(owner=owner, kind="psp_receivable", **account),
                -receivable,
            ),
            (ledger_services.ensure_account(owner=owner, kind="psp_fees", **account), fees),
            (
                ledger_services.ensure_account(
                    owner=bank_owner(livemode=report.livemode), kind="bank", **account
                ),
                bank,
            ),
        ]
        lines = [_line(account_id, amount) for account_id, amount in signed if amount]
        if len(lines) < 2:
            continue
        ledger_services.post_transaction(
            kind="settlement",
            reference=f"settlement:{report.provider}:{report.pk}:{currency}",
            lines=lines,
            livemode=report.livemode,
            description=f"Settlement of {report.provider} report {report.report_date} "
            f"({currency}): matched lines",
        )


def _line(account_id: int, debit_minor: int) -> ledger_services.Line:
    """A line debiting `debit_minor` (a negative amount credits)."""
    if debit_minor > 0:
        return ledger_services.Line(account_id=account_id, debit_minor=int(debit_minor))
    return ledger_services.Line(account_id=account_id, credit_minor=int(-debit_minor))


# --- breaks -------------------------------------------------------------------------------------

_OPEN_LINE_BREAKS = """
INSERT INTO ledger_recon_breaks
    (run_id, provider, livemode, type, key, report_date, currency, line_id, reference,
     provider_reference, payment_id, provider_minor, ledger_minor, difference_minor, opened_at,
     resolved_by, resolution_reason)
SELECT %(run_id)s, %(provider)s, %(livemode)s, l.outcome, 'line:' || %(sha)s || ':' || l.line_no,
       %(date)s, l.currency, l.id, l.reference, l.provider_reference, l.payment_id,
       CASE WHEN l.type = 'payout' THEN abs(l.net_minor) ELSE l.gross_minor END, l.ledger_minor,
       CASE WHEN l.type = 'payout' THEN abs(l.net_minor) ELSE l.gross_minor END
           - coalesce(l.ledger_minor, 0),
       now(), '', ''
FROM ledger_recon_lines l
WHERE l.report_id = %(report_id)s AND l.outcome <> 'matched'
ON CONFLICT (provider, livemode, type, key) DO NOTHING
"""


def _open_line_breaks(run: ReconciliationRun, report: SettlementReport) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _OPEN_LINE_BREAKS,
            {
                "run_id": run.pk,
                "provider": run.provider,
                "livemode": run.livemode,
                "sha": report.sha256[:16],
                "date": run.report_date,
                "report_id": report.pk,
            },
        )


def _close_settled_breaks(run: ReconciliationRun, report: SettlementReport) -> None:
    """Breaks a later report or statement settled: a payout now on the bank statement, a
    capture missing from earlier reports that this one brings."""
    now = timezone.now()
    matched_payouts = ReconciledLine.objects.filter(
        report=report, type="payout", outcome=Outcome.MATCHED
    ).values("id")
    Break.objects.filter(
        resolved_at__isnull=True,
        type=Outcome.PAYOUT_NOT_RECEIVED,
        line_id__in=matched_payouts,
    ).update(resolved_at=now, resolved_by=SYSTEM_USER, resolution_reason="payout received")
    settled_captures = ReconciledLine.objects.filter(
        report=report, type="capture", outcome=Outcome.MATCHED
    ).values("payment_id")
    Break.objects.filter(
        resolved_at__isnull=True,
        provider=run.provider,
        livemode=run.livemode,
        type=Outcome.MISSING_IN_REPORT,
        payment_id__in=settled_captures,
    ).update(
        resolved_at=now,
        resolved_by=SYSTEM_USER,
        resolution_reason=f"settled in the report of {report.report_date}",
    )


def _open_missing_in_report(run: ReconciliationRun, *, capture_date: dt.date) -> None:
    missing = matching.missing_in_report(
        provider=run.provider, livemode=run.livemode, capture_date=capture_date
    )
    Break.objects.bulk_create(
        [
            Break(
                run=run,
                provider=run.provider,
                livemode=run.livemode,
                type=Outcome.MISSING_IN_REPORT,
                key=f"capture:{payment_id}",
                report_date=run.report_date,
                currency=currency,
                reference=reference,
                provider_reference=provider_reference,
                payment_id=payment_id,
                provider_minor=0,
                ledger_minor=amount_minor,
                difference_minor=-amount_minor,
            )
            for payment_id, currency, amount_minor, reference, provider_reference in missing
        ],
        ignore_conflicts=True,
    )


# --- the run's summary --------------------------------------------------------------------------


def _summarise(
    run: ReconciliationRun, report: SettlementReport, *, fetch_attempts: int, started_s: float
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT currency, outcome, count(*), sum(gross_minor), sum(fee_minor), "
            "sum(net_minor) FROM ledger_recon_lines WHERE report_id = %s GROUP BY 1, 2",
            [report.pk],
        )
        rows = cursor.fetchall()
    totals: dict[str, dict[str, int]] = {}
    matched = lines = 0
    for currency, outcome, count, gross, fee, net in rows:
        total = totals.setdefault(
            currency,
            {"lines": 0, "matched": 0, "gross_minor": 0, "fee_minor": 0, "net_minor": 0,
             "matched_net_minor": 0},
        )  # fmt: skip
        total["lines"] += count
        total["gross_minor"] += int(gross)
        total["fee_minor"] += int(fee)
        total["net_minor"] += int(net)
        lines += count
        if outcome == Outcome.MATCHED:
            total["matched"] += count
            total["matched_net_minor"] += int(net)
            matched += count
    # What the day's data shows: breaks a later statement or report cleared (resolved by the
    # system) no longer count; those finance resolved still do — the run's record stays.
    breaks = dict(
        Break.objects.filter(provider=run.provider, livemode=run.livemode)
        .filter(report_date=run.report_date)
        .exclude(resolved_by=SYSTEM_USER)
        .values_list("type")
        .annotate(n=Count("id"))
        .order_by("type")
    )
    run.report = report
    run.status = RunStatus.BREAKS if breaks else RunStatus.OK
    run.lines_count = lines
    run.matched_count = matched
    run.breaks = breaks
    run.totals = totals
    run.error = ""
    run.fetch_attempts += fetch_attempts
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started_s) * 1000)
    run.save()


def _result(run: ReconciliationRun) -> RunResult:
    return RunResult(
        run_id=run.pk,
        date=run.report_date.isoformat(),
        provider=run.provider,
        livemode=run.livemode,
        status=run.status,
        lines=run.lines_count,
        matched=run.matched_count,
        breaks=dict(run.breaks or {}),
        totals=dict(run.totals or {}),
        duration_s=run.duration_ms / 1000,
        error=run.error,
    )


# --- finance's actions --------------------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise LedgerInvalidPosting(
            f"Give a reason (at most {MAX_REASON_CHARS} characters).", param="reason"
        )
    return reason


def _locked_open_break(break_id: int) -> Break:
    found = Break.objects.select_for_update().filter(pk=break_id).first()
    if found is None:
        raise NotFound(f"No reconciliation break {break_id}.", param="break_id")
    if found.resolved_at is not None:
        raise LedgerInvalidState(
            f"Break #{break_id} was resolved by {found.resolved_by}.", code="break_resolved"
        )
    return found


def resolve_break(*, break_id: int, reason: str, username: str) -> Break:
    """Close a break with a reason (nothing moves in the ledger), recorded with who."""
    reason = _reason(reason)
    with transaction.atomic():
        brk = _locked_open_break(break_id)
        _close(brk, reason=reason, username=username)
        BreakAction.objects.create(brk=brk, action="resolved", username=username, reason=reason)
    return brk


def adjust_break(*, break_id: int, reason: str, username: str) -> Break:
    """Close a break by posting a documented `adjustment` for its difference (provider −
    ledger): between the provider's receivable (the bank, for a payout) and the provider's
    suspense account, which finance then clears. The posting, the break and the action
    commit together; the adjustment's reference names the break, so it is posted once."""
    reason = _reason(reason)
    with transaction.atomic():
        brk = _locked_open_break(break_id)
        if not brk.difference_minor:
            raise LedgerInvalidState(
                f"Break #{break_id} has no difference to adjust; resolve it instead.",
                code="break_nothing_to_adjust",
            )
        posted = ledger_services.post_transaction(
            kind="adjustment",
            reference=f"recon_break:{brk.pk}",
            lines=_adjustment_lines(brk),
            livemode=brk.livemode,
            payment_id=brk.payment_id,
            description=f"Reconciliation {brk.get_type_display().lower()} "
            f"{brk.reference or brk.key} ({brk.provider}, {brk.report_date}): "
            f"{reason} — by {username}",
        )
        brk.adjustment_transaction_id = posted.id
        _close(brk, reason=reason, username=username)
        BreakAction.objects.create(
            brk=brk,
            action="adjusted",
            username=username,
            reason=reason,
            detail={"transaction_id": posted.id, "amount_minor": brk.difference_minor},
        )
    return brk


def _adjustment_lines(brk: Break) -> list[ledger_services.Line]:
    payout = brk.type in (Outcome.PAYOUT_NOT_RECEIVED, Outcome.PAYOUT_AMOUNT_MISMATCH)
    account = dict(currency=brk.currency, livemode=brk.livemode)
    owner = provider_owner(brk.provider)
    if payout:  # the settlement booked more to the bank than arrived: bank down, suspense up
        target = ledger_services.ensure_account(
            owner=bank_owner(livemode=brk.livemode), kind="bank", **account
        )
        amount = -brk.difference_minor
    else:  # the provider's figure differs from our receivable by the difference
        target = ledger_services.ensure_account(owner=owner, kind="psp_receivable", **account)
        amount = brk.difference_minor
    suspense = ledger_services.ensure_account(owner=owner, kind="suspense", **account)
    return [_line(target, amount), _line(suspense, -amount)]


def _close(brk: Break, *, reason: str, username: str) -> None:
    brk.resolved_at = timezone.now()
    brk.resolved_by = username
    brk.resolution_reason = reason
    brk.save(
        update_fields=[
            "resolved_at", "resolved_by", "resolution_reason", "adjustment_transaction_id"
        ]
    )  # fmt: skip


def record_breaks_export(*, break_ids: list[int], username: str) -> None:
    """Note that a user exported these breaks (the console's CSV action)."""
    BreakAction.objects.create(
        action="exported", username=username, detail={"break_ids": break_ids[:10_000]}
    )
