"""Provider fee schedules: their one valid shape, checked where they are typed (the Provider
model's field validator, so `full_clean` and the admin form) and where they are read
(`routing.providers`).

A schedule maps a currency code (three letters) or "*" (any other currency) to a rule
`{"percent_bp": int, "fixed_minor": int}`, both non-negative integers: basis points of the amount
and a fixed fee in the currency's minor unit. No floats: `"2.9"` or `2.9` is refused, not
guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

BASIS_POINTS = 10_000
RULE_KEYS = frozenset({"percent_bp", "fixed_minor"})
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


class InvalidFeeSchedule(ValueError):
    """A stored or typed fee schedule that does not have the shape above."""


@dataclass(frozen=True)
class FeeRule:
    percent_bp: int
    fixed_minor: int


def parse_fee_schedule(schedule: Any) -> dict[str, FeeRule]:
    """Currency ("EUR", or "*") → rule; raises InvalidFeeSchedule naming the first problem."""
    if not isinstance(schedule, dict):
        raise InvalidFeeSchedule('must be an object such as {"*": {"percent_bp": 290, '
                                 '"fixed_minor": 30}}')  # fmt: skip
    rules: dict[str, FeeRule] = {}
    for key, rule in schedule.items():
        if key != "*" and not (isinstance(key, str) and _CURRENCY.match(key)):
            raise InvalidFeeSchedule(f'{key!r} is not a currency code or "*"')
        name = key if key == "*" else key.upper()
        if not isinstance(rule, dict):
            raise InvalidFeeSchedule(f"{key}: must be an object with percent_bp and fixed_minor")
        if set(rule) != RULE_KEYS:
            raise InvalidFeeSchedule(f"{key}: needs exactly the keys percent_bp and fixed_minor")
        for field in sorted(RULE_KEYS):
            value = rule[field]
            # bool is an int in Python; true/false is a typing slip, not a fee.
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidFeeSchedule(f"{key}.{field}: must be a non-negative integer")
        if rule["percent_bp"] > BASIS_POINTS:
            raise InvalidFeeSchedule(f"{key}.percent_bp: at most {BASIS_POINTS} (100 %)")
        if name in rules:
            raise InvalidFeeSchedule(f"{key}: currency given twice")
        rules[name] = FeeRule(percent_bp=rule["percent_bp"], fixed_minor=rule["fixed_minor"])
    return rules


def validate_fee_schedule(schedule: Any) -> None:
    """Django field validator (Provider.fee_schedule): ValidationError naming the problem."""
    try:
        parse_fee_schedule(schedule)
    except InvalidFeeSchedule as exc:
        raise ValidationError(str(exc), code="invalid_fee_schedule") from exc
