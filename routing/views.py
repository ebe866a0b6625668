"""Incoming provider webhooks: POST /api/webhooks/<provider>.

Not API-key authenticated: the provider's signature over the raw body is the authentication.
The view verifies and stores, then answers 200 at once; processing happens in Celery.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from routing import services


class ProviderWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        operation_id="provider_webhook",
        summary="Receive a provider's event (signature-verified, deduplicated)",
        description=(
            "Called by payment providers, not merchants. The body is verified against the "
            "provider's signature (Standard Webhooks for the simulator, Stripe-Signature, Adyen "
            "HMAC); a bad, stale or missing signature is a 400 and nothing is stored. "
            "`simulator` accepts events of every simulator provider."
        ),
        auth=[],
        parameters=[OpenApiParameter("provider", OpenApiTypes.STR, OpenApiParameter.PATH)],
        request=OpenApiTypes.OBJECT,
        responses=inline_serializer(
            "ProviderWebhookReceived",
            {"received": serializers.IntegerField(), "duplicates": serializers.IntegerField()},
        ),
        tags=["webhooks"],
    )
    def post(self, request: Request, provider: str) -> Response:
        # request.body is the raw bytes the signature covers; never the re-serialized JSON.
        received = services.receive_webhook(
            provider=provider, body=request._request.body, headers=dict(request.headers)
        )
        return Response({"received": received.stored, "duplicates": received.duplicates})
