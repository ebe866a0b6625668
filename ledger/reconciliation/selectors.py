"""ledger.reconciliation: reads for the nightly job, the command and the finance console."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from ledger.reconciliation.models import Break, ReconciliationRun, RunStatus


def failed_runs(*, since: dt.date, before: dt.date) -> list[tuple[str, dt.date]]:
    """(provider, date) of runs still failed (no report yet) in [since, before)."""
    return list(
        ReconciliationRun.objects.filter(
            status=RunStatus.FAILED,
            report__isnull=True,
            report_date__gte=since,
            report_date__lt=before,
        )
        .order_by("report_date", "provider")
        .values_list("provider", "report_date")
    )


@dataclass(frozen=True)
class ChartDay:
    day: dt.date
    matched: int
    breaks: int


def chart_days(*, days: int = 30, today: dt.date | None = None) -> list[ChartDay]:
    """Matched lines and breaks per report day over the last `days` days (all providers)."""
    today = today or dt.datetime.now(dt.UTC).date()
    since = today - dt.timedelta(days=days)
    by_day: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
    runs = ReconciliationRun.objects.filter(report_date__gt=since).values(
        "report_date", "matched_count"
    )
    for run in runs:
        by_day[run["report_date"]][0] += run["matched_count"]
    opened = (
        Break.objects.filter(report_date__gt=since).values("report_date").annotate(n=Count("id"))
    )
    for row in opened:
        by_day[row["report_date"]][1] += row["n"]
    span = [since + dt.timedelta(days=i) for i in range(1, days + 1)]
    return [ChartDay(day=day, matched=by_day[day][0], breaks=by_day[day][1]) for day in span]


def open_breaks_total() -> dict[str, int]:
    return dict(
        Break.objects.filter(resolved_at__isnull=True)
        .values_list("type")
        .annotate(n=Count("id"))
        .order_by("type")
    )


def open_differences_by_currency() -> dict[str, int]:
    rows = (
        Break.objects.filter(Q(resolved_at__isnull=True))
        .values_list("currency")
        .annotate(total=Sum("difference_minor"))
        .order_by("currency")
    )
    return {currency: int(total or 0) for currency, total in rows}
