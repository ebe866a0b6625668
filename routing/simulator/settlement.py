"""Settlement-report lines, the day's payouts and their CSV form.

A provider books one `SettlementEntry` per money movement at the moment it happens (capture,
refund, chargeback, chargeback reversal) with the fee fixed at that moment, so changing the fee
schedule later never rewrites history. An entry settles on the movement's UTC date plus the
provider's `settlement_delay_days`; the report for a day is the entries settling that day, then
one `payout` line per currency: the provider pays the day's net out to the merchant's bank
account, and every line names that payout in `payout_reference` (the payout line its own id,
with gross = net = minus the amount paid out). A payout id is fixed per provider generation,
day and currency, so fetching a report twice gives the same file.

Test breaks (`settlement_breaks`) change the served report only: a line left out, reported
twice or with another amount, and the payout follows the lines as reported.

With a data directory the movement lines (not the payouts, not the breaks) are appended to
``{data_dir}/{provider}/settlements/{date}.csv`` as they happen.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

HEADER = (
    "type",
    "reference",
    "provider_reference",
    "gross",
    "fee",
    "net",
    "currency",
    "date",
    "payout_reference",
)


@dataclass(frozen=True)
class SettlementEntry:
    type: str  # capture | refund | chargeback | chargeback_reversal | payout
    reference: str
    provider_reference: str
    gross: int  # negative for money going back to the cardholder or out to the bank
    fee: int
    currency: str
    date: str
    payout_reference: str = ""

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
            self.payout_reference,
        )


def settlement_date(timestamp_s: int, delay_days: int = 0) -> str:
    day = dt.datetime.fromtimestamp(timestamp_s, dt.UTC).date()
    return (day + dt.timedelta(days=delay_days)).isoformat()


def payout_id(token: str, provider: str, date: str, currency: str) -> str:
    """The id of the payout of `date`'s `currency` lines: fixed for a provider generation."""
    digest = hashlib.sha256(f"{token}:{provider}:{date}:{currency}".encode()).hexdigest()
    return f"po_{digest[:24]}"


def apply_breaks(
    entries: Iterable[SettlementEntry], breaks: Mapping[str, str | int]
) -> list[SettlementEntry]:
    """The entries as a broken report shows them: by reference, "drop" leaves the line out,
    "duplicate" reports it twice, an integer adds that many minor units to its gross."""
    shown: list[SettlementEntry] = []
    for entry in entries:
        change = breaks.get(entry.reference)
        if change == "drop":
            continue
        if isinstance(change, int):
            entry = dataclasses.replace(entry, gross=entry.gross + change)
        shown.append(entry)
        if change == "duplicate":
            shown.append(entry)
    return shown


def with_payouts(entries: list[SettlementEntry]) -> list[SettlementEntry]:
    """The entries, then one payout line per payout they name (in order of first use)."""
    totals: dict[tuple[str, str, str], int] = {}
    for entry in entries:
        key = (entry.payout_reference, entry.currency, entry.date)
        totals[key] = totals.get(key, 0) + entry.net
    payouts = [
        SettlementEntry("payout", "", payout, -net, 0, currency, date, payout)
        for (payout, currency, date), net in totals.items()
        if payout
    ]
    return [*entries, *payouts]


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
