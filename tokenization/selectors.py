"""The vault's reads: card metadata behind a token (never the number), and the same read with
the card still sealed (`sealed_card`) for a payment that will be authorized.

This is what fraud, routing and the payment object use; only `services.detokenize` returns the
number, and only to provider adapters.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass, field
from functools import cache

from django.db import connection

from core.errors import NotFound
from tokenization.models import Token


@dataclass(frozen=True)
class TokenInfo:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    bin: str
    country: str
    funding: str
    livemode: bool


def _info(token: Token) -> TokenInfo:
    return TokenInfo(
        id=token.id,
        brand=token.brand,
        last4=token.card_last4,
        exp_month=token.exp_month,
        exp_year=token.exp_year,
        fingerprint=token.fingerprint,
        bin=token.bin,
        country=token.country,
        funding=token.funding,
        livemode=token.livemode,
    )


# A key of this process only: a SealedCard's scope tag says which read made it (below).
_SCOPE_KEY = os.urandom(32)


def _scope_tag(token_id: str, merchant_id: str, livemode: bool) -> bytes:
    scope = json.dumps([token_id, merchant_id, bool(livemode)]).encode()  # unambiguous
    return hmac.digest(_SCOPE_KEY, scope, "sha256")


@dataclass(frozen=True)
class SealedCard:
    """A token's metadata and its card still encrypted, from one read scoped to a merchant and
    mode (`sealed_card`), so that `services.detokenize(sealed=…)` need not read the row again.

    Opaque outside the vault: no plaintext, and the ciphertext stays out of repr. Its scope tag
    is keyed by this process's secret, so a SealedCard built or altered by hand (another
    merchant's id, say) opens for no scope: detokenize then reads the token itself, scoped as
    always. Swapped ciphertext does not open either (the token id is in its associated data).
    """

    info: TokenInfo
    encrypted_pan: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    wrapped_dek: bytes = field(repr=False)
    key_version: str
    scope_tag: bytes = field(repr=False)

    def is_for(self, *, token_id: str, merchant_id: str, livemode: bool) -> bool:
        """Whether the read that made this was of `token_id`, for this merchant and mode."""
        return hmac.compare_digest(self.scope_tag, _scope_tag(token_id, merchant_id, livemode))


_METADATA_FIELDS = (
    "id", "brand", "card_last4", "exp_month", "exp_year", "fingerprint", "bin", "country",
    "funding", "livemode",
)  # fmt: skip
_SEALED_CARD_FIELDS = (*_METADATA_FIELDS, "encrypted_pan", "nonce", "wrapped_dek", "key_version")
# Every payment asks, so the statement is written once rather than compiled by the ORM each time
# (core/rows.py says why); the columns are the model's own. It reads by the primary key alone
# and the merchant and mode are checked here: with them in the WHERE clause, PostgreSQL's generic
# plan of the prepared statement, made while the table is small, may take the merchant's index
# and filter that merchant's tokens one by one for the id (docs/decisions.md, generic plans).
_INFO_SQL = "SELECT {columns}, merchant_id FROM {table} WHERE {pk} = %s"
_LIVEMODE = _METADATA_FIELDS.index("livemode")


def token_info(*, token_id: str, merchant_id: str, livemode: bool) -> TokenInfo:
    """Metadata of one of this merchant's tokens in this mode; any other token is NotFound.
    Read as plain values (every payment asks): no model instance, no deferred-field class."""
    with connection.cursor() as cursor:
        cursor.execute(_info_sql(_METADATA_FIELDS), [token_id])
        row = _owned(cursor.fetchone(), token_id, merchant_id=merchant_id, livemode=livemode)
    return _info_of(row)


def _owned(row: tuple | None, token_id: str, *, merchant_id: str, livemode: bool) -> tuple:
    """The token's columns (without the merchant's id read after them) if it is this merchant's
    token in this mode; NotFound for anything else."""
    if row is None or row[-1] != merchant_id or row[_LIVEMODE] != livemode:
        raise _not_found(token_id)
    return row[:-1]


def sealed_card(*, token_id: str, merchant_id: str, livemode: bool) -> SealedCard:
    """`token_info` and, in the same statement, the token's sealed card: a payment reads its
    token once, and the router detokenizes what this returned. Any other token is NotFound."""
    with connection.cursor() as cursor:
        cursor.execute(_info_sql(_SEALED_CARD_FIELDS), [token_id])
        row = _owned(cursor.fetchone(), token_id, merchant_id=merchant_id, livemode=livemode)
    encrypted_pan, nonce, wrapped_dek, key_version = row[len(_METADATA_FIELDS) :]
    return SealedCard(
        info=_info_of(row[: len(_METADATA_FIELDS)]),
        encrypted_pan=bytes(encrypted_pan),
        nonce=bytes(nonce),
        wrapped_dek=bytes(wrapped_dek),
        key_version=key_version,
        scope_tag=_scope_tag(token_id, merchant_id, livemode),
    )


def _not_found(token_id: str) -> NotFound:
    return NotFound(f"No such token: '{token_id}'", param="token")


def _info_of(row: tuple) -> TokenInfo:
    values = dict(zip(_METADATA_FIELDS, row, strict=True))
    values["last4"] = values.pop("card_last4")
    return TokenInfo(**values)


@cache
def _info_sql(fields: tuple[str, ...]) -> str:
    meta = Token._meta
    quote = connection.ops.quote_name
    return _INFO_SQL.format(
        columns=", ".join(quote(meta.get_field(name).column) for name in fields),
        table=quote(meta.db_table),
        pk=quote(meta.pk.column),
    )


def tokens_with_fingerprint(
    *, fingerprint: str, merchant_id: str | None = None, limit: int = 100
) -> list[TokenInfo]:
    """Tokens of the same card (deduplication, fraud velocity), newest first, at most `limit`."""
    queryset = Token.objects.filter(fingerprint=fingerprint).only(*_METADATA_FIELDS)
    if merchant_id is not None:
        queryset = queryset.filter(merchant_id=merchant_id)
    return [_info(token) for token in queryset.order_by("-created")[:limit]]
