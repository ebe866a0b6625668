"""manage.py reconcile [--provider NAME] [--date YYYY-MM-DD] [--json]: reconcile one day.

Default: yesterday (UTC), every enabled provider. Prints a summary; with --json one object:
{date, providers, matched, breaks: {type: count}, totals: {currency: {...}}, duration_s}.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from payments import reconciliation


class Command(BaseCommand):
    help = "Reconcile one day's provider settlement reports against the ledger and the bank."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--provider", action="append", help="only this provider (repeatable)")
        parser.add_argument("--date", help="the report day, YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            date = (
                dt.date.fromisoformat(options["date"])
                if options["date"]
                else reconciliation.yesterday()
            )
        except ValueError:
            raise CommandError(f"--date {options['date']!r} is not YYYY-MM-DD") from None
        started_s = time.monotonic()
        results = reconciliation.reconcile_day(date=date, providers=options["provider"])
        summary = _summary(date, results, duration_s=time.monotonic() - started_s)
        if options["json"]:
            self.stdout.write(json.dumps(summary, sort_keys=True))
            return
        self.stdout.write(f"Reconciliation of {summary['date']}:")
        for result in results:
            mode = "live" if result.livemode else "test"
            breaks = ", ".join(f"{k} {v}" for k, v in sorted(result.breaks.items())) or "none"
            line = f"  {result.provider} ({mode}): {result.status}, {result.lines} lines, "
            line += f"{result.matched} matched, breaks: {breaks}"
            if result.error:
                line += f" — {result.error}"
            self.stdout.write(line)
        self.stdout.write(f"  {summary['duration_s']:.2f} s")


def _summary(date: dt.date, results: list, *, duration_s: float) -> dict:
    breaks: Counter[str] = Counter()
    totals: dict[str, dict[str, int]] = {}
    for result in results:
        breaks.update(result.breaks)
        for currency, figures in result.totals.items():
            total = totals.setdefault(currency, {})
            for name, value in figures.items():
                total[name] = total.get(name, 0) + value
    return {
        "date": date.isoformat(),
        "providers": {
            r.provider: {"status": r.status, "livemode": r.livemode, "error": r.error}
            for r in results
        },
        "matched": sum(r.matched for r in results),
        "breaks": dict(sorted(breaks.items())),
        "totals": totals,
        "duration_s": round(duration_s, 3),
    }
