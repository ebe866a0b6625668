"""Reconciliation test helpers: captured payments booked through the ledger's services, their
attempt ids told to the ledger, and settlement lines of a provider's report."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from ledger import services as ledger
from ledger.reconciliation import services as recon
from ledger.reconciliation.services import ReportLine


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Captured:
    payment_id: str
    attempt_id: str
    provider_reference: str
    amount_minor: int
    currency: str


class Book:
    """A provider's day in one mode: captured payments, then the report's lines."""

    def __init__(self, *, livemode: bool = False) -> None:
        self.provider = unique("sim")
        self.merchant = unique("acct")
        self.livemode = livemode
        self.today = dt.datetime.now(dt.UTC).date()

    def capture(self, amount_minor: int, currency: str = "EUR") -> Captured:
        payment_id, attempt_id = unique("pay"), unique("att")
        ledger.place_and_capture_hold(
            payment_id=payment_id,
            hold_reference=f"{payment_id}:hold",
            capture_reference=f"{payment_id}:capture",
            merchant_id=self.merchant,
            provider=self.provider,
            amount_minor=amount_minor,
            currency=currency,
            livemode=self.livemode,
        )
        captured = Captured(payment_id, attempt_id, unique("psp"), amount_minor, currency)
        recon.record_provider_references(
            provider=self.provider,
            livemode=self.livemode,
            references=[(attempt_id, captured.provider_reference, payment_id)],
        )
        return captured

    def reconcile(self, lines: list[ReportLine], *, raw: bytes | None = None, delay_days=0):
        return recon.reconcile_report(
            provider=self.provider,
            livemode=self.livemode,
            report_date=self.today,
            raw=raw if raw is not None else repr(lines).encode(),
            filename=f"{self.today}.csv",
            lines=lines,
            delay_days=delay_days,
        )


def capture_line(captured: Captured, *, gross_minor: int | None = None, fee_minor: int = 30):
    gross = captured.amount_minor if gross_minor is None else gross_minor
    return ReportLine(
        type="capture",
        reference=captured.attempt_id,
        provider_reference=captured.provider_reference,
        gross_minor=gross,
        fee_minor=fee_minor,
        net_minor=gross - fee_minor,
        currency=captured.currency,
        payout_reference="po_1",
    )


def line(type: str, reference: str, gross_minor: int, fee_minor: int = 0, **extra) -> ReportLine:
    return ReportLine(
        type=type,
        reference=reference,
        provider_reference=extra.pop("provider_reference", unique("psp")),
        gross_minor=gross_minor,
        fee_minor=fee_minor,
        net_minor=gross_minor - fee_minor,
        currency=extra.pop("currency", "EUR"),
        payout_reference=extra.pop("payout_reference", ""),
    )
