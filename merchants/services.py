"""Merchant writes: merchants, API keys (created, shown once, revoked), webhook endpoints."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from core.errors import InvalidRequest, NotFound
from core.ids import random_base62
from merchants import egress
from merchants.models import ApiKey, ApiKeyEvent, Merchant, WebhookDelivery, WebhookEndpoint

KEY_RANDOM_BITS = 192  # 33 base62 characters after the prefix
KEY_PREFIXES = {
    (ApiKey.Kind.SECRET, False): "sk_test_",
    (ApiKey.Kind.SECRET, True): "sk_live_",
    (ApiKey.Kind.PUBLISHABLE, False): "pk_test_",
    (ApiKey.Kind.PUBLISHABLE, True): "pk_live_",
}
VISIBLE_PREFIX_CHARS = 4  # characters after sk_test_ kept visible for identification
# The actor recorded for a key created or revoked by code that names none (scripts, benchmarks).
SYSTEM_ACTOR = "system"


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


def create_api_key(
    *,
    merchant: Merchant,
    kind: str,
    livemode: bool,
    name: str = "",
    actor: str = SYSTEM_ACTOR,
    ip: str | None = None,
) -> CreatedKey:
    """Create a key and return its plaintext once; the creation is recorded with `actor` (who
    asked: "admin:<username>", "cli:…") and `ip` (the request's address, when there is one)."""
    kind = ApiKey.Kind(kind)
    prefix = KEY_PREFIXES[(kind, livemode)]
    plaintext = prefix + random_base62(KEY_RANDOM_BITS)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            merchant=merchant,
            kind=kind,
            livemode=livemode,
            name=name,
            prefix=plaintext[: len(prefix) + VISIBLE_PREFIX_CHARS],
            key_hash=hash_key(plaintext),
        )
        _record_key_event(api_key, ApiKeyEvent.Action.CREATE, actor=actor, ip=ip)
    return CreatedKey(api_key=api_key, plaintext=plaintext)


@dataclass(frozen=True)
class IssuedKey:
    """A new key as another app may hold it: its id and its plaintext (shown only here)."""

    api_key_id: str
    plaintext: str


def issue_publishable_key(*, merchant_id: str, livemode: bool, name: str) -> IssuedKey:
    """A new publishable key for a page we host for the merchant (payments' hosted pages)."""
    merchant = Merchant.objects.get(pk=merchant_id)
    created = create_api_key(
        merchant=merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=livemode, name=name
    )
    return IssuedKey(api_key_id=created.api_key.pk, plaintext=created.plaintext)


def revoke_api_key(*, api_key_id: str, actor: str = SYSTEM_ACTOR, ip: str | None = None) -> ApiKey:
    """Revoke a key (again: nothing changes, nothing is recorded); recorded like a creation."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key_id)
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            _record_key_event(api_key, ApiKeyEvent.Action.REVOKE, actor=actor, ip=ip)
    return api_key


def _record_key_event(api_key: ApiKey, action: str, *, actor: str, ip: str | None) -> None:
    ApiKeyEvent.objects.create(
        api_key=api_key, action=action, actor=actor[:200] or SYSTEM_ACTOR, ip=_address(ip)
    )


def _address(ip: str | None) -> str | None:
    """The address as PostgreSQL's inet stores it, or None for anything that is not one."""
    try:
        return str(ipaddress.ip_address((ip or "").strip()))
    except ValueError:
        return None


MAX_WEBHOOK_ENDPOINTS = 16  # per merchant and mode, as Stripe: each event fans out to each one
PREVIOUS_SECRET_TTL = timedelta(hours=24)  # after a roll the old secret signs this long too


def check_webhook_url(*, url: str, livemode: bool, policy: egress.Policy | None = None) -> None:
    """Our servers post to the URL, so it must not point into our own network (merchants/egress.py
    says what is allowed, in test and live mode alike); live endpoints use https. A name that
    does not resolve yet is accepted: every delivery checks again."""
    try:
        parsed = urlsplit(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:  # unbalanced brackets, a port out of range
        raise InvalidRequest("The URL is invalid.", param="url", code="url_invalid") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidRequest(
            "Webhook endpoints need an http(s) URL with a host.", param="url", code="url_invalid"
        )
    if livemode and parsed.scheme != "https":
        raise InvalidRequest(
            "Live webhook endpoints must use https.", param="url", code="url_invalid"
        )
    try:
        policy = policy or egress.policy_from_settings(livemode=livemode)
        egress.addresses_for(parsed.hostname, port, policy=policy)
    except egress.DestinationRefused as exc:
        raise InvalidRequest(
            f"Webhook endpoints must be on a public host: {exc}", param="url", code="url_invalid"
        ) from None
    except UnicodeError:  # a name IDNA cannot encode
        raise InvalidRequest(
            "The URL's host is invalid.", param="url", code="url_invalid"
        ) from None
    except OSError:
        return  # does not resolve (yet)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_webhook_endpoint(
    *, merchant_id: str, livemode: bool, url: str, enabled_events: list[str], description: str = ""
) -> WebhookEndpoint:
    """A new endpoint with a new secret (`endpoint.secret`, to show once); at most
    MAX_WEBHOOK_ENDPOINTS per merchant and mode."""
    check_webhook_url(url=url, livemode=livemode)
    with transaction.atomic():
        # Serializes creations for the merchant so two cannot both pass the count; NO KEY
        # UPDATE does not block the payments that reference the merchant meanwhile.
        Merchant.objects.select_for_update(no_key=True).filter(pk=merchant_id).first()
        check_endpoint_limit(merchant_id=merchant_id, livemode=livemode)
        return WebhookEndpoint.objects.create(
            merchant_id=merchant_id,
            livemode=livemode,
            url=url,
            enabled_events=enabled_events,
            description=description,
            secret=new_webhook_secret(),
        )


def check_endpoint_limit(*, merchant_id: str, livemode: bool) -> None:
    count = WebhookEndpoint.objects.filter(merchant_id=merchant_id, livemode=livemode).count()
    if count >= MAX_WEBHOOK_ENDPOINTS:
        raise InvalidRequest(
            f"A merchant may have at most {MAX_WEBHOOK_ENDPOINTS} webhook endpoints per mode; "
            "delete one first.",
            code="webhook_endpoint_limit_reached",
        )


def _locked_endpoint(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.select_for_update(no_key=True)
        .filter(pk=endpoint_id, merchant_id=merchant_id, livemode=livemode)
        .first()
    )
    if endpoint is None:
        raise NotFound(f"No such webhook endpoint: '{endpoint_id}'", param="id")
    return endpoint


def set_webhook_endpoint_enabled(
    *, merchant_id: str, livemode: bool, endpoint_id: str, enabled: bool
) -> WebhookEndpoint:
    """Enable or disable an endpoint. Disabling stops its pending retries too (they fail as
    'endpoint disabled'); enabling does not resend what was missed."""
    with transaction.atomic():
        endpoint = _locked_endpoint(
            merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id
        )
        if endpoint.active != enabled:
            endpoint.active = enabled
            endpoint.save(update_fields=["active"])
        if not enabled:
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status=WebhookDelivery.Status.PENDING
            ).update(
                status=WebhookDelivery.Status.FAILED,
                next_attempt_at=None,
                last_error="endpoint disabled",
            )
    return endpoint


def delete_webhook_endpoint(*, merchant_id: str, livemode: bool, endpoint_id: str) -> str:
    """Delete an endpoint and its deliveries; returns its id."""
    with transaction.atomic():
        endpoint = _locked_endpoint(
            merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id
        )
        endpoint.delete()
    return endpoint_id


def roll_webhook_secret(*, merchant_id: str, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    """A new secret (`endpoint.secret`, to show once). The one it replaces keeps signing next
    to it for PREVIOUS_SECRET_TTL, so the merchant can switch its receiver without losing
    events; a secret replaced before then is dropped."""
    with transaction.atomic():
        endpoint = _locked_endpoint(
            merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id
        )
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_expires_at = timezone.now() + PREVIOUS_SECRET_TTL
        endpoint.secret = new_webhook_secret()
        endpoint.save(
            update_fields=["secret_sealed", "previous_secret_sealed", "previous_secret_expires_at"]
        )
    return endpoint
