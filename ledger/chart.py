"""ledger: the account chart (kinds and their normal side) and the journal transaction kinds."""

from __future__ import annotations

# Debit-normal kinds are assets and expenses of the platform's books; credit-normal kinds are
# what the platform owes (to merchants) or earns. DESIGN section 6 names the first seven.
NORMAL_SIDE_BY_KIND: dict[str, str] = {
    "psp_authorizations": "debit",  # open authorizations a provider has approved (holds)
    "merchant_pending": "credit",  # the merchant's side of an open hold
    "psp_receivable": "debit",  # captured money a provider owes us until settlement
    "merchant_payable": "credit",  # captured money we owe a merchant until payout
    "psp_fees": "debit",  # provider fees (expense)
    "bank": "debit",  # our bank accounts
    "chargebacks": "debit",  # chargebacks recoverable from a merchant
    "fee_revenue": "credit",  # our fees charged to merchants
    "suspense": "debit",  # unexplained differences awaiting adjustment
    "equity": "credit",  # opening balances
}

HOLD_KINDS = frozenset({"psp_authorizations", "merchant_pending"})

TRANSACTION_KINDS = frozenset(
    {
        "auth_hold",
        "hold_release",
        "capture",
        "refund",
        "void",
        "settlement",
        "fee",
        "chargeback",  # a disputed amount the provider took back
        "chargeback_reversal",  # a disputed amount the provider gave back
        "chargeback_fee",  # the provider's dispute fee, booked apart from the amount
        "chargeback_fee_reversal",  # a dispute fee the provider gave back
        "payout",
        "adjustment",
    }
)


def merchant_owner(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"


def provider_owner(provider: str) -> str:
    return f"provider:{provider}"


def hold_account_kind(owner: str) -> str | None:
    """The hold account that carries an owner's open authorizations, if owners of that type hold."""
    if owner.startswith("merchant:"):
        return "merchant_pending"
    if owner.startswith("provider:"):
        return "psp_authorizations"
    return None
