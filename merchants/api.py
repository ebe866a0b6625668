"""The merchant's outgoing webhook subscriptions: `GET/POST /api/webhook-endpoints`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import paginate, reject_unknown_query_params
from core.api.views import StrictSerializer, require_json_object
from merchants import selectors, services
from merchants.api_views import ApiView
from merchants.models import WebhookEndpoint

EVENT_TYPES = [
    "*",
    "payment.authorized",
    "payment.captured",
    "payment.failed",
    "payment.canceled",
    "payment.refunded",
    "payment.requires_action",
    "dispute.created",
    "dispute.updated",
    "dispute.closed",
]


class WebhookEndpointCreate(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    enabled_events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES), min_length=1, max_length=50
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class WebhookEndpointOut(serializers.Serializer):
    """Schema only: what `render_endpoint` returns."""

    id = serializers.CharField()
    object = serializers.CharField()
    url = serializers.URLField()
    enabled_events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    status = serializers.CharField()
    livemode = serializers.BooleanField()
    created = serializers.IntegerField()
    secret = serializers.CharField(required=False, help_text="Only in the create response.")


def render_endpoint(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "enabled_events": endpoint.enabled_events,
        "description": endpoint.description,
        "status": "enabled" if endpoint.active else "disabled",
        "livemode": endpoint.livemode,
        "created": int(endpoint.created.timestamp()),
    }
    if with_secret:
        body["secret"] = endpoint.secret
    return body


class WebhookEndpointDetailView(ApiView):
    @extend_schema(operation_id="webhook_endpoints_retrieve", responses={200: WebhookEndpointOut})
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.webhook_endpoint(
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            endpoint_id=endpoint_id,
        )
        return Response(render_endpoint(endpoint))


class WebhookEndpointListView(ApiView):
    @extend_schema(
        operation_id="webhook_endpoints_list",
        responses={
            200: inline_serializer(
                "WebhookEndpointList",
                {
                    "object": serializers.CharField(),
                    "data": WebhookEndpointOut(many=True),
                    "has_more": serializers.BooleanField(),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        reject_unknown_query_params(request, ())
        queryset = selectors.webhook_endpoints(
            merchant_id=self.client.merchant_id, livemode=self.client.livemode
        )
        return Response(paginate(request, queryset, render_endpoint))

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointCreate,
        responses={201: WebhookEndpointOut},
        examples=[
            OpenApiExample(
                "Subscribe to payment events",
                value={"url": "https://shop.example/hooks", "enabled_events": ["payment.captured"]},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = WebhookEndpointCreate(data=require_json_object(request))
        serializer.is_valid(raise_exception=True)
        endpoint = services.create_webhook_endpoint(
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            **serializer.validated_data,
        )
        return Response(render_endpoint(endpoint, with_secret=True), status=status.HTTP_201_CREATED)
