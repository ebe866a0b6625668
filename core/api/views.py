"""The base of every API view: idempotency for POSTs, the client's scope, strict input.

Every API view derives from `ApiView` (or `ApiViewSet`), so idempotency keys work the same
on every POST endpoint without any view doing anything about them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from django.http import HttpResponse
from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSet

from core.api.errors import InvalidRequest
from merchants import idempotency
from merchants.authentication import ApiClient

IDEMPOTENCY_HEADER = "Idempotency-Key"


class _IdempotentReplay(Exception):
    """Raised from `initial` to short-circuit the handler with a stored response."""

    def __init__(self, stored: idempotency.StoredResponse) -> None:
        self.stored = stored


class IdempotencyMixin:
    """Claims the Idempotency-Key of a POST after authentication, stores the response after."""

    _idempotency_claim: idempotency.Claim | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self._idempotency_claim = None
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method != "POST" or key is None:
            return
        client = request.user
        if not isinstance(client, ApiClient):
            return
        outcome = idempotency.claim(
            merchant_id=client.merchant_id,
            livemode=client.livemode,
            key=key,
            method=request.method,
            path=request.path,
            request_hash=idempotency.request_fingerprint(
                method=request.method, path=request.path, body=request._request.body
            ),
        )
        if isinstance(outcome, idempotency.StoredResponse):
            raise _IdempotentReplay(outcome)
        self._idempotency_claim = outcome

    def handle_exception(self, exc: Exception) -> Response | HttpResponse:
        if isinstance(exc, _IdempotentReplay):
            stored = exc.stored
            response = HttpResponse(stored.body, status=stored.status)
            for name, value in stored.headers.items():
                response[name] = value
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        claim, self._idempotency_claim = self._idempotency_claim, None
        if claim is None:
            return response
        if response.status_code >= 500:
            idempotency.release(claim)
            return response
        if isinstance(response, Response):
            response.content = response.rendered_content  # render once, store and send it
        idempotency.complete(
            claim,
            status=response.status_code,
            body=response.content,
            headers=dict(response.items()),
        )
        return response


class ScopedMixin:
    @property
    def client(self) -> ApiClient:
        return self.request.user


class ApiView(IdempotencyMixin, ScopedMixin, APIView):
    pass


class ApiViewSet(IdempotencyMixin, ScopedMixin, ViewSet):
    pass


class StrictSerializer(serializers.Serializer):
    """Rejects parameters it does not know (400 `parameter_unknown` with `param`), at every
    level of nesting: a typo never silently drops a field."""

    # (This docstring is the description of every subclass without one in the OpenAPI schema.)
    #
    # Its fields are built once per class rather than for every request: DRF deep-copies the
    # declared fields (constructing each field, nested serializers included, again) for each
    # serializer it instantiates, about half the CPU of validating a payment's body. A top-level
    # serializer made without `context` or `partial`, as a view makes one to validate a request,
    # shares the class's set, bound to an instance made the same way (`_class_fields`); any
    # other keeps DRF's own copy. Sharing is safe because validating reads fields and changes
    # none of them (a field keeping per-request state of its own would need DRF's copy: none of
    # ours does); the shared set is read-only, so no caller can change it for the next request.
    @cached_property
    def fields(self) -> Mapping[str, serializers.Field]:
        if self.parent is None and not self.partial and not self._context:
            return _class_fields(type(self))
        return serializers.Serializer.fields.func(self)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            known = self.fields
            for key in data:
                if key not in known:
                    raise serializers.ValidationError(
                        {
                            key: serializers.ErrorDetail(
                                f"Received unknown parameter: {key}", code="parameter_unknown"
                            )
                        }
                    )
        return super().to_internal_value(data)


@cache
def _class_fields(cls: type[StrictSerializer]) -> Mapping[str, serializers.Field]:
    """The fields of `cls` (DRF's deep copy of its declared fields), bound to one instance of
    it made without data, context or `partial`: their `root`, `context` and `partial` are then
    what they would be under any serializer made that way."""
    template = cls()
    fields = MappingProxyType(dict(serializers.Serializer.fields.func(template).items()))
    template.__dict__["fields"] = fields  # what its own `fields` reads, as DRF would cache it
    return fields


def require_json_object(request: Request) -> dict[str, Any]:
    """The parsed body, which must be a JSON object."""
    data = request.data
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="parameter_invalid")
    return data
