"""The address a customer comes back to from 3-D Secure: `/pay/return/<payment id>?sig=…`.

The provider's challenge page sends the customer's browser there, so the page is public; the
signature (django.core.signing under SECRET_KEY: an HMAC of the payment id and the time it was
made) makes it an address only we hand out, to the provider of that payment. An unsigned,
altered or expired address is a 404, so a payment id seen elsewhere (a referrer, a log line)
cannot be used to make us query the provider or to find the merchant's return_url. It stays
valid an hour longer than a payment may wait for its customer (PAYMENTS_REQUIRES_ACTION_TTL_S),
so a customer who comes back late still sees what happened.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from core.errors import NotFound

SIGNATURE_PARAM = "sig"
GRACE_S = 3600
_SIGNER = signing.TimestampSigner(salt="payments.three-ds-return", sep=".")


def signed_return_url(*, payment_id: str) -> str:
    """The return address given to the provider for this payment's challenge."""
    signature = _SIGNER.sign(payment_id).removeprefix(f"{payment_id}.")
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/pay/return/{payment_id}?{SIGNATURE_PARAM}={signature}"


def verify_return(*, payment_id: str, signature: str) -> None:
    """NotFound unless `signature` is ours for this payment and not expired."""
    max_age_s = settings.PAYMENTS_REQUIRES_ACTION_TTL_S + GRACE_S
    try:
        _SIGNER.unsign(f"{payment_id}.{signature}", max_age=max_age_s)
    except signing.BadSignature:  # SignatureExpired included
        raise NotFound("No such payment return.") from None
