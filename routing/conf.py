"""routing's own settings, read from the environment with django-environ.

routing may not edit config/settings, so every knob it needs lives here, read at call time (a
test or an operator can change the environment without re-importing anything). Secrets for real
providers are only ever read here, from the environment; the database stores the *name* of the
variable prefix (`Provider.credentials_env`), never a secret.

Variables:
    PSP_SIM_URL                      simulator base URL (default http://127.0.0.1:8100)
    PSP_SIM_WEBHOOK_SECRETS          comma list of Standard Webhooks secrets accepted for the
                                     simulator (default: settings.PSP_SIM_WEBHOOK_SECRETS, which
                                     only development and test settings fill, with the
                                     simulator's public dev secret; elsewhere none: every
                                     simulator event is refused)
    ROUTING_MAX_ATTEMPTS_PER_PAYMENT authorization attempts per card per payment (default 3)
    ROUTING_MAX_DECLINES_PER_CARD_24H declined attempts per card per 24 h (default 10)
    ROUTING_BREAKER_*                circuit breaker tuning, see `BreakerSettings`
    ROUTING_INQUIRY_MAX_TRIES        status inquiries after a timeout before giving up (default 8)
    ROUTING_PROVIDER_CACHE_TTL_S     provider metadata cache TTL (default 3600)
    ROUTING_SETTLEMENT_DELAY_DAYS    per provider name, days a capture may take to appear in its
                                     settlement report ("stripe-eu=7,sim-a=0"); a provider not
                                     listed takes its kind's default (SETTLEMENT_DELAY_DAYS)
    <PREFIX>_API_KEY, <PREFIX>_WEBHOOK_SECRET, …  credentials of a real provider, see adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

import environ
from django.conf import settings

env = environ.Env()

# The simulator's fixed development secret (routing.simulator.webhooks.DEFAULT_WEBHOOK_SECRET),
# public in this repository: development and test settings use it, production refuses it.
# Copied, not imported: the Django side must not depend on the simulator package at runtime.
DEFAULT_SIM_WEBHOOK_SECRET = "whsec_cXItcGF5bWVudHMtcHNwLXNpbXVsYXRvci1rZXkhIQ=="


def sim_base_url() -> str:
    """A sim provider row's own `base_url` wins; else settings.PSP_SIM_URL (tests may set it),
    else the environment, else the simulator's default port."""
    from_settings = getattr(settings, "PSP_SIM_URL", "")
    return from_settings or env.str("PSP_SIM_URL", default="http://127.0.0.1:8100")


def sim_webhook_secrets() -> list[str]:
    """The environment at call time (a rotation needs no restart), else the settings' value;
    never a default of routing's own."""
    configured = list(getattr(settings, "PSP_SIM_WEBHOOK_SECRETS", []))
    return [s for s in env.list("PSP_SIM_WEBHOOK_SECRETS", default=configured) if s]


def webhook_credentials_required() -> bool:
    """Production: every enabled provider's webhook credentials must be set (`manage.py check`
    fails otherwise), and Adyen's notifications must carry Basic credentials."""
    return bool(getattr(settings, "PROVIDER_WEBHOOK_CREDENTIALS_REQUIRED", False))


def max_attempts_per_payment() -> int:
    # Card networks frown on rapid re-tries of one card; three providers is the most any
    # payment may see (Visa/Mastercard reattempt rules allow far fewer than a retry storm).
    return env.int("ROUTING_MAX_ATTEMPTS_PER_PAYMENT", default=3)


def max_declines_per_card_24h() -> int:
    # Mastercard's excessive-attempts programme counts more than 10 declines per card in 24 h.
    return env.int("ROUTING_MAX_DECLINES_PER_CARD_24H", default=10)


def provider_cache_ttl_s() -> int:
    return env.int("ROUTING_PROVIDER_CACHE_TTL_S", default=3600)


# Days from capture to the provider's settlement report, by provider kind: the simulator
# settles the same day (one day of slack); Stripe's standard payout schedule is T+2 and Adyen's
# default settlement delay two business days.
SETTLEMENT_DELAY_DAYS = {"simulator": 1, "stripe": 2, "adyen": 2}


def settlement_delay_days(*, name: str, kind: str) -> int:
    for item in env.list("ROUTING_SETTLEMENT_DELAY_DAYS", default=[]):
        key, _, days = item.partition("=")
        if key.strip() == name:
            return int(days)
    return SETTLEMENT_DELAY_DAYS.get(kind, 2)


def inquiry_max_tries() -> int:
    return env.int("ROUTING_INQUIRY_MAX_TRIES", default=8)


def inquiry_backoff_s(try_number: int) -> int:
    """Exponential backoff between status inquiries: 2, 4, 8 … capped at 5 minutes."""
    return min(2 ** max(try_number, 1), env.int("ROUTING_INQUIRY_MAX_BACKOFF_S", default=300))


def webhook_max_process_tries() -> int:
    return env.int("ROUTING_WEBHOOK_MAX_PROCESS_TRIES", default=5)


@dataclass(frozen=True)
class BreakerSettings:
    failure_threshold: int  # consecutive errors/timeouts that open the breaker
    error_rate: float  # or this share of errors over the window …
    min_calls: int  # … once the window holds at least this many calls
    window_s: int
    open_s: float  # how long an open breaker refuses calls before a half-open probe
    half_open_probes: int  # concurrent probes let through while half-open


def breaker_settings() -> BreakerSettings:
    return BreakerSettings(
        failure_threshold=env.int("ROUTING_BREAKER_FAILURES", default=5),
        error_rate=env.float("ROUTING_BREAKER_ERROR_RATE", default=0.5),
        min_calls=env.int("ROUTING_BREAKER_MIN_CALLS", default=20),
        window_s=env.int("ROUTING_BREAKER_WINDOW_S", default=60),
        open_s=env.float("ROUTING_BREAKER_OPEN_S", default=30.0),
        half_open_probes=env.int("ROUTING_BREAKER_HALF_OPEN_PROBES", default=1),
    )


def credential(prefix: str, name: str) -> str:
    """`<PREFIX>_<NAME>` from the environment, '' when unset."""
    return env.str(f"{prefix}_{name}", default="") if prefix else ""
