"""fraud: blocklist and allow-list matching (card fingerprint, email, IP or CIDR range, BIN).

One SELECT per assessment (sent in the same round trip as the rules' stamp and the PostgreSQL
velocity statement, fraud/sql.py): PostgreSQL's `inet >>=` does the CIDR containment, so a /16
range blocks every address in it without expanding it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fraud.models import ListEntry, ListKind
from fraud.sql import Query, fetch_all

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
        if "%" in value:  # Python keeps an IPv6 zone ("fe80::1%eth0"); PostgreSQL's inet has none
            raise ValueError("An IP address or range has no zone (the part after '%').")
        network = ipaddress.ip_network(value, strict=False)
        # A single address is stored without its /32 so it reads naturally in the admin.
        if network.num_addresses == 1:
            return str(network.network_address)
        return str(network)
    if kind == ListKind.BIN and not (value.isdigit() and 6 <= len(value) <= 8):
        raise ValueError("A BIN is 6 to 8 digits.")
    return value


# Only the table name (a constant) is interpolated; every value is a parameter. One branch per
# kind, each on an index (migration 0005): an equality on (kind, value), or for IP entries the
# GiST index of the same CASE expression (`inet >>=` is the containment of the address in a
# range). The statement is prepared, so its generic plan must not depend on the values: one
# `OR` over the kinds could not use an index (the IP containment has none in a btree) and read
# the whole table on every assessment. An absent value is NULL, which matches nothing.
_SQL = f"""
SELECT DISTINCT list, kind FROM (
    SELECT list, kind FROM {ListEntry._meta.db_table}
    WHERE kind = 'card' AND value = %(list_card)s AND merchant_id IN ('', %(list_merchant)s)
    UNION ALL
    SELECT list, kind FROM {ListEntry._meta.db_table}
    WHERE kind = 'email' AND value = %(list_email)s AND merchant_id IN ('', %(list_merchant)s)
    UNION ALL
    SELECT list, kind FROM {ListEntry._meta.db_table}
    WHERE kind = 'bin' AND value = %(list_bin)s AND merchant_id IN ('', %(list_merchant)s)
    UNION ALL
    SELECT list, kind FROM {ListEntry._meta.db_table}
    WHERE kind = 'ip' AND (CASE WHEN kind = 'ip' THEN value::inet END) >>= %(list_ip)s::inet
      AND merchant_id IN ('', %(list_merchant)s)
) hits
"""  # noqa: S608


def match_query(*, merchant_id: str, card: str, email: str, bin: str, ip: str) -> Query:
    """The list-match SELECT for this attempt's card, email, BIN and IP (see `hits`)."""
    valid_ip: str | None
    try:
        valid_ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        valid_ip = None
    params = {
        "list_merchant": merchant_id,
        # An empty value must never match an entry: `value = NULL` is never true.
        "list_card": card or None,
        "list_email": email.strip().lower() or None,
        "list_bin": bin or None,
        "list_ip": valid_ip,
    }
    return Query(_SQL, params)


def hits(rows: list[tuple]) -> ListHits:
    """Which lists the attempt is on, from `match_query`'s rows."""
    blocked = dict.fromkeys(LIST_KINDS, False)
    allowed = dict.fromkeys(LIST_KINDS, False)
    for list_name, kind in rows:
        (blocked if list_name == ListEntry.BLOCK else allowed)[kind] = True
    return ListHits(blocklisted=blocked, allowlisted=allowed)


def match(*, merchant_id: str, card: str, email: str, bin: str, ip: str) -> ListHits:
    """Which lists this attempt's card, email, BIN and IP are on (a round trip of its own)."""
    query = match_query(merchant_id=merchant_id, card=card, email=email, bin=bin, ip=ip)
    (rows,) = fetch_all([query])
    return hits(rows)
