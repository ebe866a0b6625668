"""When a failed authorization may be tried at the next provider.

The table maps each provider kind's normalized decline and error codes to retry / no-retry.
Rules that hold whatever the table says:
- hard declines never cascade (the card or cardholder is the problem; another provider would
  decline too, and repeated tries look like card testing to the networks);
- a timeout never cascades: the first provider may have authorized, and must be asked first;
- approvals and 3-D Secure challenges end the cascade.
Codes missing from the table: a soft decline cascades, a provider error cascades (the request
never took effect).
"""

from __future__ import annotations

from routing.interface import Outcome, ProviderResult

# (provider kind, normalized code) → cascade? "*" applies to every kind.
RETRY_TABLE: dict[tuple[str, str], bool] = {
    ("*", "processing_error"): True,
    ("*", "issuer_unavailable"): True,
    ("*", "try_again_later"): True,
    ("*", "reenter_transaction"): True,
    ("*", "approve_with_id"): True,
    ("*", "rate_limited"): True,
    ("*", "provider_unavailable"): True,
    ("*", "internal_error"): True,
    # The issuer asked for the same card not to be retried right away, anywhere.
    ("*", "do_not_try_again"): False,
    ("*", "revocation_of_authorization"): False,
    # Adyen answers "Acquirer Error" for trouble between it and the acquirer: elsewhere may work.
    ("adyen", "acquirer_error"): True,
    # Stripe's "authentication_required" needs the customer (3-D Secure), not another provider.
    ("stripe", "authentication_required"): False,
}


def should_cascade(*, provider_kind: str, result: ProviderResult) -> bool:
    if result.outcome not in (Outcome.SOFT_DECLINE, Outcome.PROVIDER_ERROR):
        return False
    code = result.decline_code
    for key in ((provider_kind, code), ("*", code)):
        if key in RETRY_TABLE:
            return RETRY_TABLE[key]
    return True
