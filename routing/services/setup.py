"""Provider rows for a fresh installation (`manage.py seed_demo`, tests)."""

from __future__ import annotations

from django.db import transaction

from routing import conf
from routing.models import Provider, RoutingProfile

CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF", "SEK", "DKK", "NOK", "PLN", "CAD", "AUD"]
# The simulator also reports QR payments, in the currencies of the QR schemes.
SIM_CURRENCIES = [*CURRENCIES, "BRL", "SGD", "THB", "INR"]
# The simulator's default fee schedules (routing/simulator/config.py DEFAULT_FEES).
SIM_PROVIDERS = {
    "sim-a": {"priority": 1, "fee_schedule": {"*": {"percent_bp": 290, "fixed_minor": 30}}},
    "sim-b": {"priority": 2, "fee_schedule": {"*": {"percent_bp": 250, "fixed_minor": 25}}},
}
# Published list prices (card, EEA): Stripe 1.5 % + €0.25; Adyen interchange++ approximated.
REAL_PROVIDERS = {
    "stripe": {"kind": "stripe", "env": "STRIPE", "priority": 10,
               "fee_schedule": {"*": {"percent_bp": 150, "fixed_minor": 25}}},
    "adyen": {"kind": "adyen", "env": "ADYEN", "priority": 11,
              "fee_schedule": {"*": {"percent_bp": 120, "fixed_minor": 13}}},
}  # fmt: skip


def seed_providers(*, sim_base_url: str = "") -> list[str]:
    """Create the provider rows that do not exist yet (never overwrites staff's edits); Stripe
    and Adyen are enabled only when their API key is in the environment. `sim_base_url`, when
    given, points the sim providers at that simulator. Returns the names."""
    with transaction.atomic():
        for name, spec in SIM_PROVIDERS.items():
            row, _ = Provider.objects.get_or_create(
                name=name,
                defaults={
                    "kind": "simulator",
                    "enabled": True,
                    "methods": ["card", "wallet", "qr"],
                    "currencies": SIM_CURRENCIES,
                    "fee_schedule": spec["fee_schedule"],
                    "priority": spec["priority"],
                    "weight": 1,
                    "timeout_ms": 10_000,
                },
            )
            if sim_base_url and row.base_url != sim_base_url:
                row.base_url = sim_base_url
                row.save(update_fields=["base_url", "updated"])
        for name, spec in REAL_PROVIDERS.items():
            Provider.objects.get_or_create(
                name=name,
                defaults={
                    "kind": spec["kind"],
                    "enabled": bool(conf.credential(spec["env"], "API_KEY")),
                    "methods": ["card"],
                    "currencies": CURRENCIES,
                    "fee_schedule": spec["fee_schedule"],
                    "priority": spec["priority"],
                    "credentials_env": spec["env"],
                    "timeout_ms": 15_000,
                },
            )
        RoutingProfile.objects.get_or_create(
            merchant_id="", defaults={"strategies": ["rules", "priority"]}
        )
    return list(SIM_PROVIDERS) + list(REAL_PROVIDERS)
