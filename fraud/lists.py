"""fraud: blocklist and allow-list matching (card fingerprint, email, IP or CIDR range, BIN).

One query per assessment: PostgreSQL's `inet >>=` does the CIDR containment, so a /16 range
blocks every address in it without expanding it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.db import connection

from fraud.models import ListEntry, ListKind

LIST_KINDS = tuple(kind.value for kind in ListKind)


@dataclass(frozen=True)
class ListHits:
    blocklisted: dict[str, bool]
    allowlisted: dict[str, bool]


def normalize(*, kind: str, value: str) -> str:
    """The stored form of a list value; raises ValueError for an invalid IP/range or BIN."""
    value = value.strip()
    if kind == ListKind.EMAIL:
        return value.lower()
    if kind == ListKind.IP:
        network = ipaddress.ip_network(value, strict=False)
        # A single address is stored without its /32 so it reads naturally in the admin.
        if network.num_addresses == 1:
            return str(network.network_address)
        return str(network)
    if kind == ListKind.BIN and not (value.isdigit() and 6 <= len(value) <= 8):
        raise ValueError("A BIN is 6 to 8 digits.")
    return value


# Only the table name (a constant) is interpolated; every value is a parameter.
_SQL = f"""
SELECT DISTINCT list, kind FROM {ListEntry._meta.db_table}
WHERE (merchant_id = '' OR merchant_id = %(merchant)s) AND (
    (kind = 'card' AND value = %(card)s)
 OR (kind = 'email' AND value = %(email)s)
 OR (kind = 'bin' AND value = %(bin)s)
 OR (kind = 'ip' AND %(ip)s::inet IS NOT NULL
     AND CASE WHEN kind = 'ip' THEN value::inet >>= %(ip)s::inet ELSE false END)
)
"""  # noqa: S608


def match(*, merchant_id: str, card: str, email: str, bin: str, ip: str) -> ListHits:
    """Which lists this attempt's card, email, BIN and IP are on."""
    valid_ip: str | None
    try:
        valid_ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        valid_ip = None
    params = {
        "merchant": merchant_id,
        # An empty value must never match an entry: `value = NULL` is never true.
        "card": card or None,
        "email": email.strip().lower() or None,
        "bin": bin or None,
        "ip": valid_ip,
    }
    blocked = dict.fromkeys(LIST_KINDS, False)
    allowed = dict.fromkeys(LIST_KINDS, False)
    with connection.cursor() as cursor:
        cursor.execute(_SQL, params)
        for list_name, kind in cursor.fetchall():
            (blocked if list_name == ListEntry.BLOCK else allowed)[kind] = True
    return ListHits(blocklisted=blocked, allowlisted=allowed)
