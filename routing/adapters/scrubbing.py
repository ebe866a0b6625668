"""Card data out of providers' raw responses, before `ProviderResult.raw` keeps them.

One function for every adapter: keys that name card data are replaced, and any stand-alone run of
12-19 digits keeps at most its first 6 and last 4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SENSITIVE_KEYS = frozenset(
    {"number", "cvc", "cvv", "pan", "card_number", "cardnumber", "expirymonth", "expiryyear",
     "encryptedcardnumber", "encryptedsecuritycode", "client_secret", "token"}
)  # fmt: skip
_PAN_LIKE = re.compile(r"(?<![\w.])\d{12,19}(?![\w.])")


def scrub(value: Any) -> Any:
    """A copy of `value` with card numbers, CVCs, expiry fields, tokens and secrets removed."""
    if isinstance(value, Mapping):
        return {
            key: "[scrubbed]" if str(key).lower() in SENSITIVE_KEYS else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return _PAN_LIKE.sub(lambda m: f"{m[0][:6]}{'*' * (len(m[0]) - 10)}{m[0][-4:]}", value)
    return value
