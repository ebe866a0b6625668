"""Merchant reads."""

import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from core import rows
from core.errors import NotFound
from merchants.models import ApiKey, Merchant, WebhookEndpoint
from merchants.services import hash_key


def webhook_endpoints(*, merchant_id: str, livemode: bool) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant_id=merchant_id, livemode=livemode)


def active_endpoints(*, merchant_id: str, livemode: bool) -> list[WebhookEndpoint]:
    # Written once, not compiled by the ORM per call: this runs in every payment's transaction.
    return rows.fetch_all(
        WebhookEndpoint,
        "merchant_id = %s AND livemode = %s AND active",
        [merchant_id, livemode],
        order_by="created DESC",  # the model's ordering
    )


@dataclass(frozen=True)
class Subscriber:
    """An active endpoint as an event needs it: where its delivery goes and what it wants."""

    endpoint_id: str
    enabled_events: tuple[str, ...]

    def subscribes_to(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events


_SUBSCRIBERS_SQL = (
    "SELECT coalesce(json_agg(json_build_array(e.id, e.enabled_events) "
    "ORDER BY e.created DESC), '[]')::text FROM merchants_webhookendpoint e "
    "WHERE e.merchant_id = %s AND e.livemode = %s AND e.active"
)


def subscribers(*, merchant_id: str, livemode: bool) -> list[Subscriber]:
    """The active endpoints of the merchant in this mode, newest first (like
    `active_endpoints`), as an event needs them; one small statement, written once."""
    with connection.cursor() as cursor:
        cursor.execute(_SUBSCRIBERS_SQL, [merchant_id, livemode])
        value = cursor.fetchone()[0]
    return [Subscriber(endpoint_id, tuple(events)) for endpoint_id, events in json.loads(value)]


def active_endpoints_for_event(
    *, merchant_id: str, livemode: bool, event_type: str
) -> list[WebhookEndpoint]:
    return [
        endpoint
        for endpoint in active_endpoints(merchant_id=merchant_id, livemode=livemode)
        if endpoint.subscribes_to(event_type)
    ]


def webhook_endpoint(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    """One endpoint of this merchant and mode; any other is a 404, never a 403."""
    endpoint = (
        webhook_endpoints(merchant_id=merchant_id, livemode=livemode).filter(pk=endpoint_id).first()
    )
    if endpoint is None:
        raise NotFound(f"No such webhook endpoint: '{endpoint_id}'", param="id")
    return endpoint


@dataclass(frozen=True)
class KeyScope:
    """Whose key it is and in which mode; what a page keyed by a publishable key may act for."""

    merchant_id: str
    livemode: bool


def publishable_key_scope(*, key: str) -> KeyScope | None:
    """The merchant and mode of an active (not revoked) publishable key; None for anything else,
    secret keys included (a page must never be driven by one)."""
    if not key.startswith("pk_"):
        return None
    found = (
        ApiKey.objects.filter(
            key_hash=hash_key(key), kind=ApiKey.Kind.PUBLISHABLE, revoked_at__isnull=True
        )
        .values_list("merchant_id", "livemode")
        .first()
    )
    return KeyScope(merchant_id=found[0], livemode=found[1]) if found else None


def allowed_origins(*, merchant_id: str) -> list[str]:
    """The origins allowed to embed this merchant's hosted pages, as stored (not normalized);
    empty for an unknown merchant."""
    stored = Merchant.objects.filter(pk=merchant_id).values_list("allowed_origins", flat=True)
    return [origin for origin in (stored.first() or []) if isinstance(origin, str)]


# Beyond this many ids a list of bound parameters gets long (PostgreSQL takes at most 65,535).
MERCHANT_IDS_AS_LIST = 1000


def merchant_ids_named(*, containing: str) -> list[str] | QuerySet:
    """Ids of the merchants whose name contains `containing` (any case): a scan of the merchants
    table, which is small next to what is looked up with the ids. A list, so an index can be
    probed with each; for a term so broad that more match, the same as a subquery."""
    named = Merchant.objects.filter(name__icontains=containing).values_list("pk", flat=True)
    ids = list(named[: MERCHANT_IDS_AS_LIST + 1])
    return ids if len(ids) <= MERCHANT_IDS_AS_LIST else named
