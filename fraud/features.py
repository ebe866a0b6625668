"""fraud: the context a CEL rule sees — built from the request, FX, GeoIP, lists and velocity.

Shape (docs/fraud.md lists every field):
    {amount, amount_ref, amount_ref_known, currency, method, merchant_id, livemode, email,
     email_domain, test_card,
     card: {fingerprint, bin, brand, country, last4}, ip: {address, country},
     velocity: {card_1m, card_1h, card_24h, card_sum_1m, …, ip_cards_24h, email_cards_24h, …,
                merchant_1h, merchant_declines_1h, key_1h, key_declines_1h, …},
     declines_1h, card_first_seen_s, card_new, blocklisted: {card, email, ip, bin},
     allowlisted: {card, email, ip, bin}, country_mismatch}
Only fingerprint, BIN and last4 of a card are ever here: never its number.
`amount_ref` is null when the currency has no FX rate; `amount_ref_known` says which.
"""

from __future__ import annotations

from typing import Any

from fraud.interface import AssessmentRequest
from fraud.lists import LIST_KINDS, ListHits
from fraud.velocity import Velocity, empty_features


def build_context(
    *,
    request: AssessmentRequest,
    amount_ref_minor: int | None,
    ip_country: str,
    hits: ListHits,
    velocity: Velocity,
) -> dict[str, Any]:
    email = request.email.strip().lower()
    card_country = request.card_country.upper()
    return {
        "amount": request.amount_minor,
        "amount_ref": amount_ref_minor,
        "amount_ref_known": amount_ref_minor is not None,
        "currency": request.currency.upper(),
        "method": request.method,
        "merchant_id": request.merchant_id,
        "livemode": request.livemode,
        # A published test card (test mode only): the default per-card rules skip its repeats.
        "test_card": request.test_card,
        "email": email,
        "email_domain": email.rpartition("@")[2],
        "card": {
            "fingerprint": request.card_fingerprint,
            "bin": request.bin,
            "brand": request.brand,
            "country": card_country,
            "last4": request.last4,
        },
        "ip": {"address": request.ip, "country": ip_country},
        "velocity": velocity.features,
        "declines_1h": velocity.declines_1h,
        "card_first_seen_s": velocity.card_first_seen_s,
        "card_new": bool(request.card_fingerprint) and velocity.card_first_seen_s == 0,
        "blocklisted": hits.blocklisted,
        "allowlisted": hits.allowlisted,
        "country_mismatch": bool(card_country and ip_country and card_country != ip_country),
    }


def sample_context() -> dict[str, Any]:
    """A representative context, for checking a rule's types when it is saved."""
    return build_context(
        request=AssessmentRequest(
            payment_id="pay_sample",
            merchant_id="mer_sample",
            livemode=False,
            amount_minor=1999,
            currency="EUR",
            method="card",
            card_fingerprint="fp_sample",
            bin="424242",
            brand="visa",
            card_country="DE",
            last4="4242",
            email="shopper@example.com",
            ip="85.214.132.117",
        ),
        amount_ref_minor=1999,
        ip_country="DE",
        hits=ListHits(dict.fromkeys(LIST_KINDS, False), dict.fromkeys(LIST_KINDS, False)),
        velocity=Velocity(empty_features(), 0, 0, "sample"),
    )
