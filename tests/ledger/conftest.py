"""Ledger test helpers: fresh owners per test (ledger tables are append-only and never flushed)."""

from __future__ import annotations

import uuid

import pytest

from ledger import services


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def eur_accounts(db) -> dict[str, int]:
    """A merchant's payable, a provider's receivable and a bank account, all in EUR."""
    merchant, provider = unique("acct"), unique("sim")
    return {
        "payable": services.ensure_account(
            owner=f"merchant:{merchant}", kind="merchant_payable", currency="EUR", livemode=False
        ),
        "receivable": services.ensure_account(
            owner=f"provider:{provider}", kind="psp_receivable", currency="EUR", livemode=False
        ),
        "bank": services.ensure_account(
            owner=unique("bank:main"), kind="bank", currency="EUR", livemode=False
        ),
        "fees": services.ensure_account(
            owner=f"provider:{provider}", kind="psp_fees", currency="EUR", livemode=False
        ),
    }
