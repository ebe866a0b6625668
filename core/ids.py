"""Prefixed opaque ids (`pay_…`, `re_…`, `tok_…`): 128 random bits, base62-encoded."""

from __future__ import annotations

import secrets
import string
from typing import Any

from django.db import models

_ALPHABET = string.digits + string.ascii_letters
ID_RANDOM_BITS = 128


def base62_of(value: int, bits: int = ID_RANDOM_BITS) -> str:
    """`value` (< 2**bits) in base62, fixed width (22 characters for 128 bits)."""
    chars = []
    while value:
        value, index = divmod(value, 62)
        chars.append(_ALPHABET[index])
    width = -(-bits * 1000 // 5954)  # ceil(bits / log2(62))
    return "".join(reversed(chars)).rjust(width, "0")


def random_base62(bits: int = ID_RANDOM_BITS) -> str:
    return base62_of(secrets.randbits(bits), bits)


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62()}"


class PrefixedIdField(models.CharField):
    """A primary key like `pay_3kTMd9…`, generated on first save when not given."""

    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        self.prefix = prefix
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[Any, ...]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs

    def get_default(self) -> str:
        return new_id(self.prefix)

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = getattr(model_instance, self.attname)
        if not value:
            value = new_id(self.prefix)
            setattr(model_instance, self.attname, value)
        return value
