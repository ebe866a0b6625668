"""Disputes fixtures: captured payments of the test merchant, ledger and webhook readers."""

from __future__ import annotations

import pytest

from ledger import selectors as ledger_selectors
from merchants.models import WebhookDelivery, WebhookEndpoint
from tests.disputes.factories import CapturedPaymentFactory


@pytest.fixture
def captured(merchant):
    """A captured, booked payment of the merchant: `captured(livemode=True, amount_minor=…)`."""

    def make(**fields):
        return CapturedPaymentFactory(merchant=merchant.merchant, **fields)

    return make


@pytest.fixture
def endpoint(merchant):
    """A webhook endpoint of the merchant (test mode) that wants every dispute event."""
    return WebhookEndpoint.objects.create(
        merchant=merchant.merchant,
        livemode=False,
        url="https://hooks.example.com/disputes",
        enabled_events=["dispute.created", "dispute.updated", "dispute.closed"],
        secret="whsec_test",
    )


def webhook_types(dispute_id: str) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(payload__data__object__id=dispute_id)
        .order_by("created", "id")
        .values_list("event_type", flat=True)
    )


def payable_minor(merchant_id: str, currency: str = "EUR", *, livemode: bool = False) -> int:
    """The merchant's payable balance (what we owe it) in one mode, from the ledger."""
    return sum(
        b.posted_minor
        for b in ledger_selectors.owner_balances(owner=f"merchant:{merchant_id}", livemode=livemode)
        if b.kind == "merchant_payable" and b.currency == currency
    )


def entries_by_kind(payment_id: str) -> dict[str, list[tuple[str, int, int]]]:
    """The payment's ledger entries grouped by transaction kind: (account, debit, credit)."""
    grouped: dict[str, list[tuple[str, int, int]]] = {}
    for entry in ledger_selectors.payment_entries(payment_id=payment_id):
        grouped.setdefault(entry.kind, []).append(
            (entry.account_kind, entry.debit_minor, entry.credit_minor)
        )
    return grouped


@pytest.fixture(autouse=True)
def _evidence_dir(settings, tmp_path):
    """Evidence files of a test go to its own private directory."""
    settings.DISPUTES_EVIDENCE_DIR = tmp_path / "evidence"
    return settings.DISPUTES_EVIDENCE_DIR
