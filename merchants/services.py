"""Merchant writes: merchants, API keys (created, shown once, revoked), webhook endpoints."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from core.errors import InvalidRequest
from core.ids import random_base62
from merchants.models import ApiKey, Merchant, WebhookEndpoint

KEY_RANDOM_BITS = 192  # 33 base62 characters after the prefix
KEY_PREFIXES = {
    (ApiKey.Kind.SECRET, False): "sk_test_",
    (ApiKey.Kind.SECRET, True): "sk_live_",
    (ApiKey.Kind.PUBLISHABLE, False): "pk_test_",
    (ApiKey.Kind.PUBLISHABLE, True): "pk_live_",
}
VISIBLE_PREFIX_CHARS = 4  # characters after sk_test_ kept visible for identification


@dataclass(frozen=True)
class CreatedKey:
    """A new key: `plaintext` exists only here, at creation, and is never stored."""

    api_key: ApiKey
    plaintext: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def get_or_create_merchant(*, name: str) -> Merchant:
    name = name.strip()
    if not name:
        raise InvalidRequest("A merchant needs a name.", param="name")
    merchant, _ = Merchant.objects.get_or_create(name=name)
    return merchant


def create_api_key(*, merchant: Merchant, kind: str, livemode: bool, name: str = "") -> CreatedKey:
    """Create a key and return its plaintext once."""
    kind = ApiKey.Kind(kind)
    prefix = KEY_PREFIXES[(kind, livemode)]
    plaintext = prefix + random_base62(KEY_RANDOM_BITS)
    api_key = ApiKey.objects.create(
        merchant=merchant,
        kind=kind,
        livemode=livemode,
        name=name,
        prefix=plaintext[: len(prefix) + VISIBLE_PREFIX_CHARS],
        key_hash=hash_key(plaintext),
    )
    return CreatedKey(api_key=api_key, plaintext=plaintext)


def revoke_api_key(*, api_key_id: str) -> ApiKey:
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key_id)
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
    return api_key


def check_webhook_url(*, url: str, livemode: bool) -> None:
    """Live endpoints must be https on a public host: our servers post to them, and a merchant
    must not be able to point them at our own network."""
    if not livemode:
        return  # test mode: a developer's http://localhost receiver is the point
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    if parsed.scheme != "https":
        raise InvalidRequest(
            "Live webhook endpoints must use https.", param="url", code="url_invalid"
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise InvalidRequest(
                "Live webhook endpoints must be on a public host.", param="url", code="url_invalid"
            ) from None
        return
    if not address.is_global:
        raise InvalidRequest(
            "Live webhook endpoints must be on a public address.", param="url", code="url_invalid"
        )


def create_webhook_endpoint(
    *, merchant_id: str, livemode: bool, url: str, enabled_events: list[str], description: str = ""
) -> WebhookEndpoint:
    check_webhook_url(url=url, livemode=livemode)
    return WebhookEndpoint.objects.create(
        merchant_id=merchant_id,
        livemode=livemode,
        url=url,
        enabled_events=enabled_events,
        description=description,
        secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    )
