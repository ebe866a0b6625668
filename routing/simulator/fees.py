"""Fee schedules: a percentage in basis points plus a fixed part, all in integer minor units.

A schedule maps a currency code (or "*" for any other currency) to a `FeeRule`. Rounding is
half-up on the percentage part, so that the routing engineer can reproduce every fee exactly:
``fee = fixed_minor + (amount * percent_bp + 5000) // 10000``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routing.simulator.errors import bad_request

BASIS_POINTS = 10_000


@dataclass(frozen=True)
class FeeRule:
    percent_bp: int
    fixed_minor: int

    def to_json(self) -> dict[str, int]:
        return {"percent_bp": self.percent_bp, "fixed_minor": self.fixed_minor}


FeeSchedule = dict[str, FeeRule]

ZERO_FEE = FeeRule(percent_bp=0, fixed_minor=0)


def fee_minor(schedule: FeeSchedule, currency: str, amount_minor: int) -> int:
    """The fee for moving `amount_minor` in `currency`; zero when the schedule has no rule."""
    rule = schedule.get(currency.upper()) or schedule.get("*") or ZERO_FEE
    return rule.fixed_minor + (amount_minor * rule.percent_bp + BASIS_POINTS // 2) // BASIS_POINTS


def parse_fee_rule(key: str, value: Any) -> FeeRule:
    """A rule from control JSON; refuses floats so that no money is ever a float."""
    if not isinstance(value, dict):
        raise bad_request("invalid_setting", f"fees.{key} must be an object", "fees")
    parts = {}
    for name in ("percent_bp", "fixed_minor"):
        number = value.get(name, 0)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise bad_request(
                "invalid_setting", f"fees.{key}.{name} must be a non-negative integer", "fees"
            )
        parts[name] = number
    return FeeRule(**parts)
