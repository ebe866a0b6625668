"""ledger: the streaming CSV export of entries for a date range (finance back office).

Rows flow from a server-side cursor (`.iterator(chunk_size=…)`) through a generator into a
StreamingHttpResponse, so millions of entries never sit in memory at once. The generator reads
inside its own read-only database transaction: outside one (autocommit), Django declares the
cursor WITH HOLD, and PostgreSQL then materializes the whole result when the implicit
transaction ends — the memory and disk cost the streaming was meant to avoid.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone

from ledger.models import Entry

EXPORT_CHUNK_ROWS = 5_000
EXPORT_MAX_DAYS = 366
EXPORT_COLUMNS = [
    "entry_id", "transaction_id", "payment_id", "account_id", "account_owner", "account_kind",
    "kind", "debit", "credit", "currency", "ts",
]  # fmt: skip


_EXPORT_FIELDS = [
    "entry_id", "transaction_id", "payment_id", "account_id", "account__owner", "account__kind",
    "transaction__kind", "debit", "credit", "currency", "ts",
]  # fmt: skip


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def entry_csv_rows(*, start: datetime, end: datetime) -> Iterator[str]:
    """CSV lines (header first) of entries with start <= ts < end, in booking order."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    rows = (
        Entry.objects.filter(ts__gte=start, ts__lt=end)
        .order_by("ts", "entry_id")
        .values_list(*_EXPORT_FIELDS)
    )
    # Closing the generator early (client gone) raises GeneratorExit here: the transaction rolls
    # back and the cursor is closed with it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION READ ONLY")
        for row in rows.iterator(chunk_size=EXPORT_CHUNK_ROWS):
            yield writer.writerow([*row[:-1], row[-1].isoformat()])


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def export_entries_view(request: HttpRequest) -> StreamingHttpResponse | HttpResponseBadRequest:
    """GET ?from=YYYY-MM-DD&to=YYYY-MM-DD (both days included) → entries.csv, streamed."""
    if not request.user.has_perm("ledger.export_entries"):
        raise PermissionDenied
    first, last = _day(request.GET.get("from")), _day(request.GET.get("to"))
    if first is None or last is None or last < first or (last - first).days > EXPORT_MAX_DAYS:
        return HttpResponseBadRequest("Give from and to as YYYY-MM-DD, at most 366 days apart.")
    start = datetime.combine(first, time.min, tzinfo=timezone.get_current_timezone())
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=start.tzinfo)
    response = StreamingHttpResponse(
        entry_csv_rows(start=start, end=end), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="ledger-entries-{first}-{last}.csv"'
    return response
