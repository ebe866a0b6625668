"""The vault's reads: card metadata behind a token (never the number).

This is what fraud, routing and the payment object use; only `services.detokenize` returns the
number, and only to provider adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import connection

from config.api.errors import NotFound
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


_METADATA_FIELDS = (
    "id", "brand", "card_last4", "exp_month", "exp_year", "fingerprint", "bin", "country",
    "funding", "livemode",
)  # fmt: skip
# Every payment asks, so the statement is written once rather than compiled by the ORM each time
# (config/rows.py says why); the columns are the model's own.
_INFO_SQL = "SELECT {columns} FROM {table} WHERE {pk} = %s AND merchant_id = %s AND livemode = %s"


def token_info(*, token_id: str, merchant_id: str, livemode: bool) -> TokenInfo:
    """Metadata of one of this merchant's tokens in this mode; any other token is NotFound.
    Read as plain values (every payment asks): no model instance, no deferred-field class."""
    with connection.cursor() as cursor:
        cursor.execute(_info_sql(), [token_id, merchant_id, livemode])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"No such token: '{token_id}'", param="token")
    values = dict(zip(_METADATA_FIELDS, row, strict=True))
    values["last4"] = values.pop("card_last4")
    return TokenInfo(**values)


@cache
def _info_sql() -> str:
    meta = Token._meta
    quote = connection.ops.quote_name
    return _INFO_SQL.format(
        columns=", ".join(quote(meta.get_field(name).column) for name in _METADATA_FIELDS),
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
