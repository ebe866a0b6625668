"""The payment links API: create, retrieve, list, deactivate (DESIGN section 4).

Views parse input, call `payments.links.services` and render with `render_link`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import paginate, reject_unknown_query_params
from core.api.text import validate_free_text
from core.api.views import StrictSerializer, require_json_object
from merchants.api_views import ApiView
from payments.api import StrictIntegerField
from payments.links import selectors, services
from payments.models import PaymentLink

METHODS_HELP = (
    'Payment methods the page offers, in order: "card", "bank_transfer" (EUR only: a SEPA '
    'transfer with an EPC QR code) and "qr:<scheme>" with scheme one of emvco, pix, paynow, '
    'promptpay, upi (plain "qr" is the scheme made for the currency). Default: card, plus '
    "bank_transfer for EUR, plus the currency's own QR scheme when it has one."
)


def render_link(link: PaymentLink) -> dict[str, Any]:
    urls = selectors.link_urls(link_id=link.id)
    return {
        "id": link.id,
        "object": "payment_link",
        "url": urls.page,
        "qr": {"png_url": urls.qr_png, "svg_url": urls.qr_svg},
        "status": selectors.link_status(link),
        "amount": link.amount_minor,
        "currency": link.currency,
        "description": link.description or None,
        "methods": list(link.methods),
        "expires_at": int(link.expires_at.timestamp()),
        "livemode": link.livemode,
        "created": int(link.created.timestamp()),
    }


class PaymentLinkCreate(StrictSerializer):
    amount = StrictIntegerField(min_value=1, help_text="In the currency's minor unit.")
    currency = serializers.CharField(min_length=3, max_length=3)
    description = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, validators=[validate_free_text]
    )
    expires_at = StrictIntegerField(
        required=False,
        help_text="Unix timestamp, in the future and at most 30 days away; default 24 hours.",
    )
    methods = serializers.ListField(
        child=serializers.CharField(max_length=20),
        required=False,
        min_length=1,
        max_length=8,
        help_text=METHODS_HELP,
    )


class DeactivateIn(StrictSerializer):
    """No parameters."""


class LinkQrOut(serializers.Serializer):
    png_url = serializers.URLField()
    svg_url = serializers.URLField()


class PaymentLinkOut(serializers.Serializer):
    """A payment link: its hosted page is at `url`, and `qr` shows that url as a QR code."""

    id = serializers.CharField()
    object = serializers.CharField(default="payment_link")
    url = serializers.URLField()
    qr = LinkQrOut()
    status = serializers.ChoiceField(choices=selectors.LINK_STATUSES)
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    methods = serializers.ListField(child=serializers.CharField(), help_text=METHODS_HELP)
    expires_at = serializers.IntegerField(help_text="Unix timestamp")
    livemode = serializers.BooleanField()
    created = serializers.IntegerField()


class PaymentLinkListOut(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    data = PaymentLinkOut(many=True)
    has_more = serializers.BooleanField()


CREATE_EXAMPLE = OpenApiExample(
    "A link for 19.99 EUR, by card or bank transfer",
    value={
        "amount": 1999,
        "currency": "EUR",
        "description": "Invoice 2026-117",
        "methods": ["card", "bank_transfer"],
    },
    request_only=True,
)


class PaymentLinkListCreateView(ApiView):
    @extend_schema(
        operation_id="payment_links_list",
        parameters=[
            OpenApiParameter("limit", int, description="1 to 100, default 10"),
            OpenApiParameter("starting_after", str),
            OpenApiParameter("ending_before", str),
        ],
        responses={200: PaymentLinkListOut},
    )
    def get(self, request: Request) -> Response:
        reject_unknown_query_params(request, ())
        queryset = selectors.links_for(
            merchant_id=self.client.merchant_id, livemode=self.client.livemode
        )
        return Response(paginate(request, queryset, render_link))

    @extend_schema(
        operation_id="payment_links_create",
        request=PaymentLinkCreate,
        responses={201: PaymentLinkOut},
        examples=[CREATE_EXAMPLE],
        description="Create a payment link: a hosted page (and its QR code) where a customer "
        "pays the amount once, by the link's methods, until it expires or is deactivated.",
    )
    def post(self, request: Request) -> Response:
        serializer = PaymentLinkCreate(data=require_json_object(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        expires_at = data.get("expires_at")
        link = services.create_link(
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            amount_minor=data["amount"],
            currency=data["currency"],
            description=data.get("description", ""),
            expires_at=_from_timestamp(expires_at) if expires_at is not None else None,
            methods=data.get("methods"),
        )
        return Response(render_link(link), status=status.HTTP_201_CREATED)


def _from_timestamp(value: int) -> datetime:
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise serializers.ValidationError(
            {"expires_at": serializers.ErrorDetail("Not a Unix timestamp.", code="invalid")}
        )


class PaymentLinkDetailView(ApiView):
    @extend_schema(operation_id="payment_links_retrieve", responses={200: PaymentLinkOut})
    def get(self, request: Request, link_id: str) -> Response:
        link = selectors.link(
            link_id=link_id, merchant_id=self.client.merchant_id, livemode=self.client.livemode
        )
        return Response(render_link(link))


class PaymentLinkDeactivateView(ApiView):
    @extend_schema(
        operation_id="payment_links_deactivate",
        request=DeactivateIn,
        responses={200: PaymentLinkOut},
        description="The link's page refuses payment from now on. Deactivating again changes "
        "nothing.",
    )
    def post(self, request: Request, link_id: str) -> Response:
        DeactivateIn(data=request.data if request.data else {}).is_valid(raise_exception=True)
        link = services.deactivate_link(
            link_id=link_id, merchant_id=self.client.merchant_id, livemode=self.client.livemode
        )
        return Response(render_link(link))
