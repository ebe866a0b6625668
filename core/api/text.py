"""Free text from API clients (descriptions, metadata, names, reasons): printable characters only.

Such text reaches the admin and the merchant's own back office. Django autoescapes it, but
control characters (Unicode category Cc) and format characters (Cf: the bidi overrides and
isolates, invisible marks) can still make one value look like another there, so every free-text
field refuses them with a 400 naming its parameter. Tab and line breaks stay allowed (multi-line
descriptions; a browser's textarea sends CR LF), and so do the zero-width joiner and non-joiner,
which Persian, Indic scripts and emoji sequences need to be written correctly and which reorder
nothing.
"""

from __future__ import annotations

import unicodedata

from rest_framework import serializers

REFUSED_CATEGORIES = frozenset({"Cc", "Cf"})
ALLOWED_CHARACTERS = frozenset({"\t", "\n", "\r", "\u200c", "\u200d"})


def first_invisible_character(value: str) -> str | None:
    """The first control or format character of `value` that free text may not carry."""
    for character in value:
        if character in ALLOWED_CHARACTERS:
            continue
        if unicodedata.category(character) in REFUSED_CATEGORIES:
            return character
    return None


def validate_free_text(value: str) -> str:
    """A DRF validator: 400 `parameter_invalid` (param: the field) for a control character."""
    character = first_invisible_character(value)
    if character is not None:
        raise serializers.ValidationError(
            f"Control and formatting characters (here U+{ord(character):04X}) are not allowed.",
            code="parameter_invalid",
        )
    return value
