"""fraud: the default ruleset and starter FX rates, seeded by migration 0002 (0003 and 0006
rewrote unedited defaults; 0006 added rules and the rates of every accepted currency).

Every rule that compares `amount_ref` guards it with `amount_ref_known`: a currency without an FX
rate has no reference amount (None), and such a rule must simply not fire on it. Every accepted
currency has a seeded rate (tests/fraud/test_card_testing_defaults.py holds payments' list to it).

The test-mode contract (docs/api.md, Test cards): the per-card velocity, repeated-decline and
decline-ratio rules read `!test_card`, so a merchant's test suite may pay with the same test card
as often as it likes and get its documented outcome; the rules that count many DIFFERENT cards
(per IP, per email) apply in test mode as in live.

`seed_default_rules` takes the model class so the data migration can pass its historical model;
it only creates rules that do not exist yet (an edited default is never overwritten).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CARD_TESTING_BURST = (
    "(!test_card && velocity.card_1m >= 3) "
    "|| (velocity.ip_cards_1h >= 4 && amount_ref_known && amount_ref <= 1000)"
)
REPEATED_DECLINES = "!test_card && declines_1h >= 3"
# At least DECLINE_SPIKE_MIN declines in the hour AND at least half the attempts declined: a busy
# merchant's ordinary declines never reach the ratio, a quiet one's few never reach the count.
MERCHANT_DECLINE_SPIKE = (
    'method == "card" && !test_card && velocity.merchant_declines_1h >= 20 '
    "&& velocity.merchant_declines_1h * 2 >= velocity.merchant_1h"
)
API_KEY_DECLINE_SPIKE = (
    'method == "card" && !test_card && velocity.key_declines_1h >= 20 '
    "&& velocity.key_declines_1h * 2 >= velocity.key_1h"
)
# Rules whose firing pages the on-call (fraud.services logs an error, a metric counts).
ALERTING_RULES = frozenset({"merchant_decline_spike", "api_key_decline_spike"})

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "allowlisted",
        "action": "allow",
        "weight": 0,
        "priority": 10,
        "expression": "allowlisted.card || allowlisted.email || allowlisted.ip",
        "description": "Customers on the allow-list are never blocked by a broad rule.",
    },
    {
        "name": "blocklisted",
        "action": "block",
        "weight": 100,
        "priority": 10,
        "expression": (
            "blocklisted.card || blocklisted.email || blocklisted.ip || blocklisted.bin"
        ),
        "description": "Card, email, IP (or its range) or BIN is on the blocklist.",
    },
    {
        "name": "simulator_fraud_card",
        "action": "block",
        "weight": 100,
        "priority": 20,
        "expression": 'card.bin == "410000" && card.last4 == "0019"',
        "description": "The fraud test card 4100 0000 0000 0019: always blocked (fraudulent).",
    },
    {
        "name": "card_testing_burst",
        "action": "block",
        "weight": 60,
        "priority": 30,
        "expression": CARD_TESTING_BURST,
        "description": "One card (not a test card) tried 3+ times a minute, or 4+ cards from "
        "one IP within an hour at small amounts (≤ 10.00).",
    },
    {
        "name": "merchant_decline_spike",
        "action": "block",
        "weight": 60,
        "priority": 35,
        "expression": MERCHANT_DECLINE_SPIKE,
        "description": "Card testing through the merchant: 20+ card declines in the last hour "
        "and at least half its attempts declined (per mode). Alerts.",
    },
    {
        "name": "api_key_decline_spike",
        "action": "block",
        "weight": 60,
        "priority": 36,
        "expression": API_KEY_DECLINE_SPIKE,
        "description": "Card testing through one API key (a server that sends no customer IP): "
        "20+ declines in the last hour and at least half its attempts declined. Alerts.",
    },
    {
        "name": "repeated_declines",
        "action": "block",
        "weight": 50,
        "priority": 40,
        "expression": REPEATED_DECLINES,
        "description": "The card (not a test card) was declined 3+ times in the last hour.",
    },
    {
        "name": "high_amount_country_mismatch",
        "action": "challenge",
        "weight": 40,
        "priority": 50,
        "expression": "amount_ref_known && amount_ref >= 50000 && country_mismatch",
        "description": "500.00+ paid from an IP in another country than the card's: 3-D Secure.",
    },
    {
        "name": "account_takeover",
        "action": "challenge",
        "weight": 40,
        "priority": 60,
        "expression": (
            "velocity.email_cards_24h >= 2 && card_new && amount_ref_known && amount_ref >= 20000"
        ),
        "description": "A known email suddenly pays 200.00+ with a card never seen before.",
    },
    {
        "name": "card_testing_suspect",
        "action": "review",
        "weight": 30,
        "priority": 70,
        "expression": "velocity.ip_cards_24h >= 3 && amount_ref_known && amount_ref <= 2000",
        "description": "Several cards from one IP today at small amounts.",
    },
    {
        "name": "new_card_abroad",
        "action": "review",
        "weight": 20,
        "priority": 75,
        "expression": "card_new && country_mismatch && amount_ref_known && amount_ref >= 15000",
        "description": "150.00+ on a card never seen before, from an IP in another country.",
    },
    {
        "name": "new_card_high_amount",
        "action": "review",
        "weight": 30,
        "priority": 80,
        "expression": "card_new && amount_ref_known && amount_ref >= 150000",
        "description": "1,500.00+ on a card never seen before.",
    },
)

# 1 unit of the currency in EUR, as of the seed; finance maintains them in the admin.
DEFAULT_FX_RATES: tuple[tuple[str, int, Decimal], ...] = (
    ("USD", 2, Decimal("0.92")),
    ("GBP", 2, Decimal("1.17")),
    ("CHF", 2, Decimal("1.05")),
    ("SEK", 2, Decimal("0.087")),
    ("DKK", 2, Decimal("0.134")),
    ("PLN", 2, Decimal("0.23")),
    ("JPY", 0, Decimal("0.0062")),
    ("BRL", 2, Decimal("0.17")),
    ("SGD", 2, Decimal("0.69")),
    ("INR", 2, Decimal("0.011")),
    ("KWD", 3, Decimal("3.00")),
    # Added by migration 0006: every currency payments accepts has a reference amount, so the
    # amount-based card-testing rules see small payments in any of them.
    ("NOK", 2, Decimal("0.085")),
    ("CZK", 2, Decimal("0.040")),
    ("HUF", 2, Decimal("0.0025")),
    ("RON", 2, Decimal("0.20")),
    ("AUD", 2, Decimal("0.57")),
    ("CAD", 2, Decimal("0.62")),
    ("NZD", 2, Decimal("0.52")),
    ("HKD", 2, Decimal("0.11")),
    ("MXN", 2, Decimal("0.047")),
    ("MYR", 2, Decimal("0.20")),
    ("THB", 2, Decimal("0.027")),
    ("PHP", 2, Decimal("0.015")),
    ("IDR", 2, Decimal("0.000053")),
    ("ZAR", 2, Decimal("0.049")),
    ("AED", 2, Decimal("0.235")),
    ("ILS", 2, Decimal("0.26")),
    ("TRY", 2, Decimal("0.021")),
    ("KRW", 0, Decimal("0.00062")),
    ("VND", 0, Decimal("0.000033")),
    ("CLP", 0, Decimal("0.00092")),
    ("ISK", 0, Decimal("0.0068")),
    ("UGX", 0, Decimal("0.00024")),
    ("XOF", 0, Decimal("0.0015245")),  # pegged: 655.957 XOF = 1 EUR
    ("XAF", 0, Decimal("0.0015245")),  # pegged: 655.957 XAF = 1 EUR
    ("BHD", 3, Decimal("2.29")),
    ("JOD", 3, Decimal("1.22")),
    ("OMR", 3, Decimal("2.24")),
    ("TND", 3, Decimal("0.29")),
)


def seed_default_rules(rule_model: Any) -> int:
    """Create the default rules that are missing; returns how many were created."""
    created = 0
    for spec in DEFAULT_RULES:
        _, was_created = rule_model.objects.get_or_create(
            name=spec["name"], defaults={k: v for k, v in spec.items() if k != "name"}
        )
        created += was_created
    return created


def seed_fx_rates(fx_model: Any) -> None:
    for currency, exponent, rate in DEFAULT_FX_RATES:
        fx_model.objects.get_or_create(
            currency=currency, defaults={"exponent": exponent, "rate_to_reference": rate}
        )
