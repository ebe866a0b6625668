"""payments: the nightly reconciliation's orchestration — above routing (which fetches provider
reports) and the ledger (which stores, matches and settles them); neither imports the other.

For each enabled provider and day: fetch the report (a network call, outside any database
transaction), retried with backoff; a provider whose report cannot be fetched is recorded as a
failed run, never skipped. Before matching, the payments the report names by our attempt id
are told to the ledger (`record_provider_references`): the ledger books payments by id and
never sees an attempt. Then `ledger.reconciliation.services.reconcile_report` does the rest in
one database transaction, and the trial balance runs for each mode. Failed runs of the last
`RECONCILIATION_LATE_REPORT_DAYS` days are fetched again each night: a late report is
reconciled when it comes. docs/reconciliation.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable

from django.conf import settings

from ledger import services as ledger
from ledger.reconciliation import selectors as recon_selectors
from ledger.reconciliation import services as recon
from payments.models import Payment
from routing import selectors as routing_selectors
from routing import services as routing
from routing.adapters import SettlementReportError
from routing.interface import SettlementLine, SettlementReport
from routing.providers import provider_config

logger = logging.getLogger(__name__)

# Lines whose `reference` is our attempt id (a refund's is the refund id the ledger books).
_ATTEMPT_TYPES = frozenset({"capture", "chargeback", "chargeback_reversal"})
_LOOKUP_CHUNK = 5_000


def fetch_attempts() -> int:
    return int(getattr(settings, "RECONCILIATION_FETCH_ATTEMPTS", 3))


def fetch_backoff_s() -> float:
    return float(getattr(settings, "RECONCILIATION_FETCH_BACKOFF_S", 30.0))


def late_report_days() -> int:
    return int(getattr(settings, "RECONCILIATION_LATE_REPORT_DAYS", 7))


def provider_livemode(provider: str) -> bool:
    """The mode a provider's reports settle: a simulator is never live; a PSP is, unless
    RECONCILIATION_TEST_PROVIDERS names it (a sandbox account)."""
    if provider in getattr(settings, "RECONCILIATION_TEST_PROVIDERS", ()):
        return False
    config = provider_config(provider)
    return config is not None and config.kind != "simulator"


def yesterday() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def reconcile_provider_day(
    *,
    provider: str,
    date: dt.date,
    attempts: int | None = None,
    backoff_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> recon.RunResult:
    """Fetch one provider's report for one day (retried, backoff doubling) and reconcile it."""
    attempts = attempts or fetch_attempts()
    backoff_s = fetch_backoff_s() if backoff_s is None else backoff_s
    livemode = provider_livemode(provider)
    errors: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            report = routing.fetch_settlement_report(provider=provider, date=date.isoformat())
            break
        except SettlementReportError as exc:
            errors.append(f"attempt {attempt}: {exc}")
            logger.warning("settlement report %s %s: %s", provider, date, exc)
            if attempt < attempts:
                sleep(backoff_s * 2 ** (attempt - 1))
    else:
        return recon.record_failed_run(
            provider=provider,
            livemode=livemode,
            report_date=date,
            error="; ".join(errors),
            fetch_attempts=attempts,
        )
    return reconcile_report(report, livemode=livemode, fetch_attempts=len(errors) + 1)


def reconcile_uploaded_report(
    *, provider: str, date: dt.date, raw: bytes, filename: str, actor: str
) -> recon.RunResult:
    """A report an operator uploaded by hand (a late one, or one that is never fetched)."""
    report = routing.parse_settlement_report(
        provider=provider, raw=raw, filename=filename, date=date.isoformat()
    )
    return reconcile_report(report, livemode=provider_livemode(provider), actor=actor)


def reconcile_report(
    report: SettlementReport, *, livemode: bool, fetch_attempts: int = 1, actor: str = ""
) -> recon.RunResult:
    _record_references(report.provider, livemode=livemode, lines=report.lines)
    return recon.reconcile_report(
        provider=report.provider,
        livemode=livemode,
        report_date=dt.date.fromisoformat(report.date),
        raw=report.raw,
        filename=report.filename,
        lines=(_line(line) for line in report.lines),
        delay_days=routing.settlement_delay_days(provider=report.provider),
        fetch_attempts=fetch_attempts,
        **({"actor": actor} if actor else {}),
    )


def reconcile_day(
    *, date: dt.date, providers: Iterable[str] | None = None, sleep=time.sleep
) -> list[recon.RunResult]:
    """Every enabled provider (or those named) for one day, plus any failed run of the last
    days whose report may have arrived since; then the trial balance of each mode."""
    names = list(providers) if providers else enabled_providers()
    results = [reconcile_provider_day(provider=name, date=date, sleep=sleep) for name in names]
    since = date - dt.timedelta(days=late_report_days())
    for provider, day in recon_selectors.failed_runs(since=since, before=date):
        if provider in names:
            reconcile_provider_day(provider=provider, date=day, sleep=sleep)
    for livemode in (False, True):
        ledger.run_trial_balance(livemode=livemode)
    return results


def enabled_providers() -> list[str]:
    return sorted(h.provider for h in routing_selectors.provider_health() if h.enabled)


def _line(line: SettlementLine) -> recon.ReportLine:
    return recon.ReportLine(
        type=line.type,
        reference=line.reference,
        provider_reference=line.provider_reference,
        gross_minor=line.gross_minor,
        fee_minor=line.fee_minor,
        net_minor=line.net_minor,
        currency=line.currency,
        payout_reference=getattr(line, "payout_reference", ""),
    )


def _record_references(provider: str, *, livemode: bool, lines: Iterable[SettlementLine]) -> int:
    """Tell the ledger which payment each attempt id in the report belongs to."""
    wanted = sorted({line.reference for line in lines if line.type in _ATTEMPT_TYPES})
    found: list[tuple[str, str, str]] = []
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        found += Payment.objects.filter(
            provider=provider, livemode=livemode, attempt_id__in=chunk
        ).values_list("attempt_id", "provider_reference", "id")
    return recon.record_provider_references(provider=provider, livemode=livemode, references=found)
