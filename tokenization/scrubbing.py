"""Scrubbing of card numbers (and CVCs) from logs and Sentry events.

A card number is any 13–19 digits that passes the Luhn check, with up to
MAX_SEPARATOR_CHARS separator characters (whitespace, '.', '/', '_', '-') between two digits:
the vault accepts any run of spaces and dashes in a number, so "4242  4242  4242  4242",
"4242 - 4242 - …" and tab-separated groups must be caught too. It is replaced by its first 6
and last 4 digits around asterisks, the most PCI DSS allows to be shown.

A longer digit run is searched window by window, so a number glued to other digits by a
separator ("4242 4242 4242 4242 123", number then CVC) is still caught: over-masking a log
line is cheap, leaking a card number is not. Values under keys that name a security code or
a card number (`cvc`, `cvv`, `number`, `pan`, …) are replaced whole, whatever they look like.

Wired in by the settings: `CardNumberScrubFilter` on the console log handler, and
`scrub_sentry_event` as Sentry's before_send.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from stdnum import luhn

MIN_PAN_DIGITS = 13
MAX_PAN_DIGITS = 19
# Separator characters allowed between two digits of one run. More would glue unrelated numbers
# of a line together (more Luhn windows, more false positives); fewer lets "4242 - 4242" through.
MAX_SEPARATOR_CHARS = 3
# A run of digits with separators longer than this is dropped whole (bounded work per
# log line: each run costs at most 7 window lengths × MAX_RUN_DIGITS Luhn checks).
MAX_RUN_DIGITS = 64
MAX_DEPTH = 20  # nesting depth scrubbed in event structures; deeper values are dropped
FILTERED = "[Filtered]"
SENSITIVE_KEYS = frozenset(
    {"cvc", "cvv", "cvc2", "cvv2", "cid", "csc", "security_code", "card_number", "pan",
     "number", "card[number]", "card[cvc]", "cardnumber", "card_cvc"}
)  # fmt: skip

# Linear time: every repetition must end on a digit and the separator class holds no digit,
# so a failed extension backtracks over at most MAX_SEPARATOR_CHARS characters.
_RUN = re.compile(rf"(?<!\d)\d(?:[\s./_-]{{0,{MAX_SEPARATOR_CHARS}}}\d)*(?!\d)")


def luhn_valid(digits: str) -> bool:
    return luhn.checksum(digits) == 0


def _card_windows(digits: str) -> list[tuple[int, int]]:
    """Digit-index ranges [start, end) of every Luhn-valid 13–19 digit window. Overlapping
    windows are all kept: skipping one that overlaps another could leave a real card number
    (always one of the windows) unmasked."""
    return [
        (start, start + length)
        for length in range(MIN_PAN_DIGITS, min(MAX_PAN_DIGITS, len(digits)) + 1)
        for start in range(len(digits) - length + 1)
        if luhn_valid(digits[start : start + length])
    ]


def _mask_run(run: str) -> str:
    positions = [index for index, char in enumerate(run) if char.isdigit()]
    if len(positions) < MIN_PAN_DIGITS:
        return run
    if len(positions) > MAX_RUN_DIGITS:
        # Not a card number's shape, but it could hide one, and scanning it window by window
        # costs too much per log line: drop it whole.
        return f"[{len(positions)} digits filtered]"
    chars = list(run)
    digits = "".join(run[index] for index in positions)
    for start, end in _card_windows(digits):
        # Keep the first 6 and last 4 digits of the window, hide the middle.
        for index in positions[start + 6 : end - 4]:
            chars[index] = "*"
    return "".join(chars)


def scrub_text(text: str) -> str:
    """`text` with every card-number-like digit run masked."""
    if not any(char.isdigit() for char in text):
        return text
    return _RUN.sub(lambda match: _mask_run(match.group(0)), text)


def _sensitive(key: Any) -> bool:
    return isinstance(key, str) and key.strip().lower() in SENSITIVE_KEYS


def scrub(value: Any, _depth: int = 0) -> Any:
    """Scrub strings inside any JSON-like structure (dicts, lists, tuples, sets)."""
    if _depth > MAX_DEPTH:
        return FILTERED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return scrub_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {
            scrub(key, _depth + 1): FILTERED if _sensitive(key) else scrub(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(scrub(item, _depth + 1) for item in value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= 10 ** (MIN_PAN_DIGITS - 1)
    ):
        scrubbed = scrub_text(str(value))
        return value if scrubbed == str(value) else scrubbed
    return value


_RECORD_ATTRS = set(vars(logging.makeLogRecord({})))


class CardNumberScrubFilter(logging.Filter):
    """Masks card numbers in a record's message, arguments, extras, exception and stack text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not let raw args through
            message = f"{record.msg!s} {record.args!r}"
        record.msg = scrub_text(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS:
                setattr(record, key, FILTERED if _sensitive(key) else scrub(value))
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub_text(formatted)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        return True


def scrub_sentry_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry before_send hook: the whole event — message, exception values, stack-frame
    variables, request bodies, extras, breadcrumbs."""
    return scrub(event)
