"""API-key authentication for DRF: `Authorization: Bearer sk_test_…`.

The authenticated `request.user` is an `ApiClient` (merchant id, mode, key kind), not a Django
user; views scope every query with `client.merchant_id` and `client.livemode`, so test and live
objects never meet and one merchant's objects are a 404 to another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, permissions
from rest_framework.request import Request

from core.errors import AuthenticationFailed, PermissionDenied
from merchants.models import ApiKey
from merchants.services import KEY_PREFIXES, hash_key

LAST_USED_RESOLUTION = timedelta(seconds=60)  # write last_used_at at most once a minute


@dataclass(frozen=True)
class ApiClient:
    merchant_id: str
    livemode: bool
    kind: str
    api_key_id: str

    is_authenticated = True
    is_anonymous = False

    @property
    def is_secret(self) -> bool:
        return self.kind == ApiKey.Kind.SECRET


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, plaintext = header.partition(" ")
        plaintext = plaintext.strip()
        if scheme.lower() != "bearer" or not plaintext:
            raise AuthenticationFailed(
                "Malformed Authorization header; send `Authorization: Bearer <api key>`.",
                code="invalid_api_key",
            )
        if not plaintext.startswith(tuple(KEY_PREFIXES.values())):
            raise AuthenticationFailed("Invalid API key provided.", code="invalid_api_key")
        try:
            api_key = ApiKey.objects.only(
                "id", "merchant_id", "kind", "livemode", "revoked_at", "last_used_at"
            ).get(key_hash=hash_key(plaintext))
        except ApiKey.DoesNotExist:
            raise AuthenticationFailed("Invalid API key provided.", code="invalid_api_key")
        if api_key.revoked_at is not None:
            raise AuthenticationFailed("This API key has been revoked.", code="api_key_revoked")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        client = ApiClient(
            merchant_id=api_key.merchant_id,
            livemode=api_key.livemode,
            kind=api_key.kind,
            api_key_id=api_key.pk,
        )
        return client, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class SecretKeyRequired(permissions.BasePermission):
    """The default: a secret key. Publishable keys may only create tokens."""

    def has_permission(self, request: Request, view: object) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return False  # DRF answers 401 NotAuthenticated
        if not client.is_secret:
            raise PermissionDenied(
                "Publishable keys can only create tokens; use a secret key on your server.",
                code="secret_key_required",
            )
        return True


class PublishableOrSecretKey(permissions.BasePermission):
    """For token creation and the hosted page: either kind of key."""

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.user, ApiClient)
