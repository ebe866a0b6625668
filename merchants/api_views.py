"""The base of every API view: the API key's scope and idempotency for POSTs.

Every API view derives from `ApiView` (or `ApiViewSet`), so idempotency keys work the same on
every POST endpoint without any view doing anything about them. It lives here, not in core,
because both need merchants' tables (API keys, idempotency keys).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSet

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
