"""Per-provider runtime knobs, changed over `POST /_control/{provider}`.

A `ProviderConfig` is immutable; an update builds a new one, so a request that is being served
sees one consistent configuration even while a test changes it.

Update semantics: dict knobs (`fees`, `approval_rate`) merge key by key and a `null` value
deletes a key; every other knob replaces the old value. Unknown knobs are refused so that a typo
in a test does not silently do nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from routing.simulator.errors import bad_request
from routing.simulator.fees import FeeRule, FeeSchedule, parse_fee_rule

# sim-a and sim-b differ in price so that "lowest cost" routing has something to choose.
DEFAULT_FEES: dict[str, FeeSchedule] = {
    "sim-a": {"*": FeeRule(percent_bp=290, fixed_minor=30)},
    "sim-b": {"*": FeeRule(percent_bp=250, fixed_minor=25)},
}
FALLBACK_FEES: FeeSchedule = {"*": FeeRule(percent_bp=270, fixed_minor=30)}

MAX_TIMEOUT_S = 600.0
KNOBS = (
    "fees",
    "latency_ms",
    "approval_rate",
    "random_decline_code",
    "error_rate",
    "timeout_rate",
    "timeout_s",
    "outage",
    "seed",
    "dispute_delay_s",
    "dispute_fee_minor",
    "settlement_delay_days",
    "settlement_breaks",
)
# Stripe's dispute test cards are disputed "within seconds"; tests set the delay near 0.
DEFAULT_DISPUTE_DELAY_S = 2.0
DEFAULT_DISPUTE_FEE_MINOR = 1500  # like Stripe's dispute fee (15.00 in the charge's currency)
MAX_DISPUTE_FEE_MINOR = 10**9
MAX_SETTLEMENT_DELAY_DAYS = 30
# What a test can do to one reference's line in the served settlement report: leave it out,
# report it twice, or report it with this many minor units more (an int, may be negative).
SETTLEMENT_BREAKS = ("drop", "duplicate")


@dataclass(frozen=True)
class ProviderConfig:
    fees: FeeSchedule
    latency_mean_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    # Keys: "*", a brand ("visa"), "country:US", "currency:EUR", "bin:424242".
    approval_rate: dict[str, float] = field(default_factory=lambda: {"*": 1.0})
    # Declines from the approval-rate roll model issuer/acquirer variance between providers,
    # so by default they are the retryable kind: another provider may well approve.
    random_decline_code: str = "try_again_later"
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 30.0
    outage: bool = False
    seed: int | None = None
    # After a dispute test card's capture, and after evidence is submitted, events follow
    # this long after.
    dispute_delay_s: float = DEFAULT_DISPUTE_DELAY_S
    dispute_fee_minor: int = DEFAULT_DISPUTE_FEE_MINOR
    # Days between a movement and the settlement report that carries it.
    settlement_delay_days: int = 0
    # reference → "drop" | "duplicate" | amount change in minor units, applied when the report
    # is served (see routing.simulator.settlement.apply_breaks).
    settlement_breaks: dict[str, str | int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "fees": {key: rule.to_json() for key, rule in self.fees.items()},
            "latency_ms": {"mean": self.latency_mean_ms, "jitter": self.latency_jitter_ms},
            "approval_rate": dict(self.approval_rate),
            "random_decline_code": self.random_decline_code,
            "error_rate": self.error_rate,
            "timeout_rate": self.timeout_rate,
            "timeout_s": self.timeout_s,
            "outage": self.outage,
            "seed": self.seed,
            "dispute_delay_s": self.dispute_delay_s,
            "dispute_fee_minor": self.dispute_fee_minor,
            "settlement_delay_days": self.settlement_delay_days,
            "settlement_breaks": dict(self.settlement_breaks),
        }


def default_config(provider: str, seed: int | None = None) -> ProviderConfig:
    return ProviderConfig(fees=dict(DEFAULT_FEES.get(provider, FALLBACK_FEES)), seed=seed)


def approval_rate_for(
    config: ProviderConfig, *, bin6: str, country: str, currency: str, brand: str
) -> float:
    """The most specific matching rate: BIN, then country, currency, brand, then "*"."""
    rates = config.approval_rate
    for key in (f"bin:{bin6}", f"country:{country}", f"currency:{currency}", brand, "*"):
        if key in rates:
            return rates[key]
    return 1.0


def apply_update(config: ProviderConfig, payload: dict[str, Any]) -> ProviderConfig:
    """A new config with `payload` applied; raises ApiError (400) on anything invalid."""
    unknown = sorted(set(payload) - set(KNOBS))
    if unknown:
        raise bad_request("unknown_setting", f"unknown setting(s): {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    if "fees" in payload:
        changes["fees"] = _merge_fees(config.fees, payload["fees"])
    if "latency_ms" in payload:
        changes.update(_latency(payload["latency_ms"]))
    if "approval_rate" in payload:
        changes["approval_rate"] = _merge_rates(config.approval_rate, payload["approval_rate"])
    if "random_decline_code" in payload:
        code = payload["random_decline_code"]
        if not isinstance(code, str) or not code:
            raise bad_request(
                "invalid_setting", "must be a non-empty string", "random_decline_code"
            )
        changes["random_decline_code"] = code
    for name in ("error_rate", "timeout_rate"):
        if name in payload:
            changes[name] = _probability(payload[name], name)
    if "timeout_s" in payload:
        changes["timeout_s"] = _number(payload["timeout_s"], "timeout_s", MAX_TIMEOUT_S)
    if "outage" in payload:
        if not isinstance(payload["outage"], bool):
            raise bad_request("invalid_setting", "must be true or false", "outage")
        changes["outage"] = payload["outage"]
    if "seed" in payload:
        seed = payload["seed"]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise bad_request("invalid_setting", "must be an integer or null", "seed")
        changes["seed"] = seed
    if "dispute_delay_s" in payload:
        changes["dispute_delay_s"] = _number(
            payload["dispute_delay_s"], "dispute_delay_s", MAX_TIMEOUT_S
        )
    if "dispute_fee_minor" in payload:
        fee = payload["dispute_fee_minor"]
        if (
            isinstance(fee, bool)
            or not isinstance(fee, int)
            or not 0 <= fee <= MAX_DISPUTE_FEE_MINOR
        ):
            raise bad_request(
                "invalid_setting", "must be an integer in minor units", "dispute_fee_minor"
            )
        changes["dispute_fee_minor"] = fee
    if "settlement_delay_days" in payload:
        days = payload["settlement_delay_days"]
        whole = isinstance(days, int) and not isinstance(days, bool)
        if not whole or not 0 <= days <= MAX_SETTLEMENT_DELAY_DAYS:
            raise bad_request(
                "invalid_setting",
                f"must be a whole number of days, 0 to {MAX_SETTLEMENT_DELAY_DAYS}",
                "settlement_delay_days",
            )
        changes["settlement_delay_days"] = days
    if "settlement_breaks" in payload:
        changes["settlement_breaks"] = _merge_breaks(
            config.settlement_breaks, payload["settlement_breaks"]
        )
    return dataclasses.replace(config, **changes)


def _merge_breaks(current: dict[str, str | int], update: Any) -> dict[str, str | int]:
    if not isinstance(update, dict):
        raise bad_request("invalid_setting", "must be an object", "settlement_breaks")
    merged = dict(current)
    for reference, value in update.items():
        if value is None:
            merged.pop(reference, None)
        elif value in SETTLEMENT_BREAKS or (isinstance(value, int) and not isinstance(value, bool)):
            merged[reference] = value
        else:
            raise bad_request(
                "invalid_setting",
                'each break is "drop", "duplicate" or an amount change in minor units',
                "settlement_breaks",
            )
    return merged


def _merge_fees(current: FeeSchedule, update: Any) -> FeeSchedule:
    if not isinstance(update, dict):
        raise bad_request("invalid_setting", "fees must be an object", "fees")
    merged = dict(current)
    for key, value in update.items():
        currency = key.upper() if key != "*" else key
        if value is None:
            merged.pop(currency, None)
        else:
            merged[currency] = parse_fee_rule(key, value)
    return merged


def _merge_rates(current: dict[str, float], update: Any) -> dict[str, float]:
    if not isinstance(update, dict):
        raise bad_request("invalid_setting", "approval_rate must be an object", "approval_rate")
    merged = dict(current)
    for key, value in update.items():
        normalized = _rate_key(key)
        if value is None:
            merged.pop(normalized, None)
        else:
            merged[normalized] = _probability(value, "approval_rate")
    return merged


def _rate_key(key: str) -> str:
    kind, _, value = key.partition(":")
    if value and kind in ("country", "currency"):
        return f"{kind}:{value.upper()}"
    return key if value else key.lower()


def _latency(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise bad_request("invalid_setting", "latency_ms must be an object", "latency_ms")
    return {
        "latency_mean_ms": _number(value.get("mean", 0), "latency_ms", MAX_TIMEOUT_S * 1000),
        "latency_jitter_ms": _number(value.get("jitter", 0), "latency_ms", MAX_TIMEOUT_S * 1000),
    }


def _probability(value: Any, name: str) -> float:
    return _number(value, name, 1.0)


def _number(value: Any, name: str, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        raise bad_request("invalid_setting", f"must be a number between 0 and {upper}", name)
    return float(value)
