"""Scrubbing of card numbers from logs and Sentry events.

A card number is any run of 13–19 digits, optionally separated by single spaces or dashes,
that passes the Luhn check. It is replaced by its first 6 and last 4 digits around asterisks,
the most PCI DSS allows to be shown.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_CANDIDATE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return match.group(0)
    return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"


def scrub_text(text: str) -> str:
    """`text` with every card-number-like digit run masked."""
    return _CANDIDATE.sub(_mask, text)


def scrub(value: Any) -> Any:
    """Scrub strings inside any JSON-like structure (dicts, lists, tuples)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(item) for item in value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
        return scrub_text(str(value))
    return value


_RECORD_ATTRS = set(vars(logging.makeLogRecord({})))


class CardNumberScrubFilter(logging.Filter):
    """Masks card numbers in a record's message, arguments, extras and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_text(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS:
                setattr(record, key, scrub(value))
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub_text(formatted)
            record.exc_info = None
        return True


def scrub_sentry_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry before_send hook: the whole event, request bodies and extras included."""
    return scrub(event)
