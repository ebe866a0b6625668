"""Settlement-report lines and their CSV form.

A provider books one `SettlementEntry` per money movement at the moment it happens (capture,
refund, chargeback, chargeback reversal) with the fee fixed at that moment, so changing the fee
schedule later never rewrites history. The report for a day is the entries of that UTC date.
With a data directory the same lines are appended to ``{data_dir}/{provider}/settlements/
{date}.csv`` as they happen, which is what a nightly import job would pick up.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HEADER = ("type", "reference", "provider_reference", "gross", "fee", "net", "currency", "date")


@dataclass(frozen=True)
class SettlementEntry:
    type: str  # capture | refund | chargeback | chargeback_reversal
    reference: str
    provider_reference: str
    gross: int  # negative for money going back to the cardholder
    fee: int
    currency: str
    date: str

    @property
    def net(self) -> int:
        return self.gross - self.fee

    def row(self) -> tuple[str | int, ...]:
        return (
            self.type,
            self.reference,
            self.provider_reference,
            self.gross,
            self.fee,
            self.net,
            self.currency,
            self.date,
        )


def settlement_date(timestamp_s: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_s, dt.UTC).date().isoformat()


def render_csv(entries: Iterable[SettlementEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(entry.row() for entry in entries)
    return buffer.getvalue()


def report_path(data_dir: Path, provider: str, date: str) -> Path:
    return data_dir / provider / "settlements" / f"{date}.csv"


def append_to_file(data_dir: Path, provider: str, entry: SettlementEntry) -> None:
    """Append one line to the day's file (header first when the file is new)."""
    path = report_path(data_dir, provider, entry.date)
    path.parent.mkdir(parents=True, exist_ok=True)
    is_new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if is_new:
            writer.writerow(HEADER)
        writer.writerow(entry.row())


def clear_files(data_dir: Path, provider: str) -> None:
    """Remove the provider's report files (only ours: *.csv in its settlements folder)."""
    folder = data_dir / provider / "settlements"
    if folder.is_dir():
        for path in folder.glob("*.csv"):
            path.unlink()
