"""ledger.statements: ISO 11649 (RF) creditor references found in a credit's remittance text.

Payers type the reference by hand, so it arrives grouped in fours, run together, in lower case
or next to other words ("Invoice rf18 5390 0754 7034 thanks"). After each "RF" + two check
digits we try the following space-separated chunks, longest first, and keep every form whose
check digits hold: a word typed after the reference makes a longer form that is valid by
chance once in 97 ("RF42AU4JO150Q1Z7 ORDER" may also read RF42AU4JO150Q1Z7ORDER), so the
matcher tries each. An RF token with no valid form is reported as malformed (mistyped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import iso11649

# "RF", two check digits, then up to 21 alphanumerics, possibly in space-separated chunks.
_START = re.compile(r"(?<![0-9A-Z])RF\s?(\d{2})", re.IGNORECASE)
_CHUNK = re.compile(r"\s?([0-9A-Z]+)", re.IGNORECASE)
MAX_REFERENCE_CHARS = 25  # ISO 11649: "RF", 2 check digits, at most 21 characters


@dataclass(frozen=True)
class FoundReferences:
    valid: tuple[str, ...]  # compact upper case, e.g. "RF18539007547034"; longest first
    malformed: tuple[str, ...]


def find_references(text: str) -> FoundReferences:
    valid: list[str] = []
    malformed: list[str] = []
    for start in _START.finditer(text or ""):
        forms = _forms_after(text, start)
        good = [form for form in forms if iso11649.is_valid(form)]
        if good:
            for form in good:
                _add(valid, form)
        elif forms:
            _add(malformed, _as_typed(forms))
    return FoundReferences(valid=tuple(valid), malformed=tuple(malformed))


def _forms_after(text: str, start: re.Match[str]) -> list[str]:
    """The compact references an RF start may spell, longest first."""
    prefix = "RF" + start.group(1)
    chunks: list[str] = []
    position = start.end()
    while (chunk := _CHUNK.match(text, position)) is not None:
        if len(prefix) + len("".join(chunks)) + len(chunk.group(1)) > MAX_REFERENCE_CHARS:
            break
        chunks.append(chunk.group(1))
        position = chunk.end()
    forms = [prefix + "".join(chunks[:count]).upper() for count in range(len(chunks), 0, -1)]
    return forms


def _as_typed(forms: list[str]) -> str:
    """The form the payer most likely meant (longest first): the longest ending in a digit,
    so words typed after the reference ("thanks") are left out."""
    return next((form for form in forms if form[-1].isdigit()), forms[-1])


def _add(found: list[str], reference: str) -> None:
    if reference not in found:
        found.append(reference)
