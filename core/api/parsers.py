"""The API's JSON parser: DRF's, plus a refusal of NUL characters.

PostgreSQL text cannot hold U+0000; without this check a NUL inside any string (a metadata value,
a description) would reach the database and fail there as a 500.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_NESTING_DEPTH = 32


def _has_nul(value: Any, depth: int = 0) -> bool:
    if depth > MAX_NESTING_DEPTH:
        raise ParseError("The request body is nested too deeply.")
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item, depth + 1) for item in value)
    return False


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise ParseError(
                "The request body contains a NUL character (\\u0000), which is not allowed."
            )
        return data
