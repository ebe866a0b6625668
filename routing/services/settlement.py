"""Provider settlement reports: fetching a day's report through the provider's adapter, parsing
one uploaded by hand, and how many days a provider takes to settle a capture.

routing only fetches and parses; storing reports and matching their lines against the ledger
belongs to ledger's reconciliation. Fetching is a network call and never runs inside a
database transaction.
"""

from __future__ import annotations

import datetime as dt

from core.errors import InvalidRequest, NotFound
from routing import conf
from routing.adapters import SettlementReportError
from routing.interface import SettlementReport
from routing.providers import provider_config
from routing.services.adapters import adapter_for

__all__ = [
    "SettlementReportError",
    "fetch_settlement_report",
    "parse_settlement_report",
    "settlement_delay_days",
]


def fetch_settlement_report(*, provider: str, date: str) -> SettlementReport:
    """The provider's settlement report for `date` (YYYY-MM-DD), raw and parsed.

    Raises `SettlementReportError` when the report is not available yet, the provider is
    unreachable or the file is malformed: the caller retries later. A network call: never
    inside `transaction.atomic()`."""
    _check_date(date)
    return adapter_for(provider).settlement_report(date=date)


def parse_settlement_report(
    *, provider: str, raw: bytes, filename: str, date: str
) -> SettlementReport:
    """Parse a report file an operator uploaded (a late report, or a provider whose reports
    are not fetched), with the same parser the fetch uses; a malformed file raises
    `SettlementReportError`."""
    _check_date(date)
    return adapter_for(provider).parse_settlement_report(raw=raw, filename=filename, date=date)


def settlement_delay_days(*, provider: str) -> int:
    """Days after a capture by which the provider's report should have settled it: the
    provider's entry in ROUTING_SETTLEMENT_DELAY_DAYS, else its kind's default."""
    config = provider_config(provider)
    if config is None:
        raise NotFound(f"No such provider: '{provider}'", param="provider")
    return conf.settlement_delay_days(name=config.name, kind=config.kind)


def _check_date(date: str) -> None:
    try:
        dt.date.fromisoformat(date)
    except (TypeError, ValueError):
        raise InvalidRequest(f"'{date}' is not a date (YYYY-MM-DD).", param="date") from None
