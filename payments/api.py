"""The payments API (DESIGN section 4): create, retrieve, list, capture, refund, cancel, ledger.

Views parse and validate input, call `payments.services`, and render with
`payments.representation`; nothing here changes state by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import paginate, reject_unknown_query_params
from core.api.views import StrictSerializer, require_json_object
from core.errors import InvalidRequest
from ledger import selectors as ledger_selectors
from merchants.api_views import ApiView
from payments import currencies, selectors, services
from payments.representation import render_payment, render_refund

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_CHARS = 40
METADATA_VALUE_MAX_CHARS = 500
WALLET_TYPES = ["apple_pay", "google_pay"]
UNSUPPORTED_METHODS = ["bank_transfer", "qr"]


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: not "100", not 100.0, not true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def validate_metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise serializers.ValidationError("metadata must be an object of strings.", code="invalid")
    if len(value) > METADATA_MAX_KEYS:
        raise serializers.ValidationError(
            f"metadata can have at most {METADATA_MAX_KEYS} keys.", code="metadata_too_many_keys"
        )
    for key, item in value.items():
        if not key or len(key) > METADATA_KEY_MAX_CHARS:
            raise serializers.ValidationError(
                f"metadata keys must be 1 to {METADATA_KEY_MAX_CHARS} characters.",
                code="metadata_key_too_long",
            )
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise serializers.ValidationError(
                f"metadata[{key}] must be a string.", code="parameter_invalid"
            )
        if len(str(item)) > METADATA_VALUE_MAX_CHARS:
            raise serializers.ValidationError(
                f"metadata values can be at most {METADATA_VALUE_MAX_CHARS} characters.",
                code="metadata_value_too_long",
            )
    return {key: str(item) for key, item in value.items()}


class WalletIn(StrictSerializer):
    type = serializers.ChoiceField(choices=WALLET_TYPES)
    token = serializers.CharField(max_length=10_000)


class PaymentMethodIn(StrictSerializer):
    type = serializers.ChoiceField(choices=["card", "wallet", *UNSUPPORTED_METHODS])
    token = serializers.CharField(max_length=40, required=False)
    wallet = WalletIn(required=False)


class CustomerIn(StrictSerializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    ip = serializers.IPAddressField(required=False, allow_blank=True)


class PaymentCreate(StrictSerializer):
    token = serializers.CharField(max_length=40, required=False)
    payment_method = PaymentMethodIn(required=False)
    amount = StrictIntegerField(min_value=1)
    currency = serializers.CharField(min_length=3, max_length=3)
    capture = serializers.BooleanField(required=False, default=False)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    metadata = serializers.JSONField(required=False, validators=[validate_metadata])
    customer = CustomerIn(required=False)
    return_url = serializers.URLField(max_length=2000, required=False)

    def validate_currency(self, value: str) -> str:
        value = value.upper()
        if not currencies.is_supported(value):
            raise serializers.ValidationError(
                f"Unsupported currency: {value}.", code="currency_unsupported"
            )
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        method = data.get("payment_method")
        if bool(data.get("token")) == bool(method):
            raise serializers.ValidationError(
                {
                    "token": serializers.ErrorDetail(
                        "Provide exactly one of token or payment_method.", code="parameter_missing"
                    )
                }
            )
        if method:
            if method["type"] in UNSUPPORTED_METHODS:
                raise serializers.ValidationError(
                    {
                        "payment_method": {
                            "type": serializers.ErrorDetail(
                                f"{method['type']} payments are not available here yet.",
                                code="payment_method_unsupported",
                            )
                        }
                    }
                )
            if method["type"] == "card" and not method.get("token"):
                raise serializers.ValidationError(
                    {
                        "payment_method": {
                            "token": serializers.ErrorDetail(
                                "A card payment needs a token (create one with POST /api/tokens).",
                                code="parameter_missing",
                            )
                        }
                    }
                )
            if method["type"] == "wallet" and not method.get("wallet"):
                raise serializers.ValidationError(
                    {
                        "payment_method": {
                            "wallet": serializers.ErrorDetail(
                                "A wallet payment needs wallet: {type, token}.",
                                code="parameter_missing",
                            )
                        }
                    }
                )
        limit = currencies.max_amount_minor(data["currency"])
        if data["amount"] > limit:
            raise serializers.ValidationError(
                {
                    "amount": serializers.ErrorDetail(
                        f"amount must be at most {limit} ({data['currency']} minor units).",
                        code="amount_too_large",
                    )
                }
            )
        return data


class CaptureIn(StrictSerializer):
    amount = StrictIntegerField(min_value=1, required=False)


class RefundIn(StrictSerializer):
    amount = StrictIntegerField(min_value=1, required=False)
    reason = serializers.ChoiceField(
        choices=["duplicate", "fraudulent", "requested_by_customer"], required=False
    )


class CancelIn(StrictSerializer):
    cancellation_reason = serializers.CharField(max_length=200, required=False)


class PaymentOut(serializers.Serializer):
    """Schema only: the payment object of DESIGN section 4."""

    id = serializers.CharField()
    object = serializers.CharField(default="payment")
    status = serializers.ChoiceField(choices=selectors.STATUSES)
    amount = serializers.IntegerField()
    amount_capturable = serializers.IntegerField()
    amount_captured = serializers.IntegerField()
    amount_refunded = serializers.IntegerField()
    currency = serializers.CharField()
    capture_method = serializers.CharField()
    payment_method = serializers.JSONField()
    provider = serializers.CharField(allow_null=True)
    provider_reference = serializers.CharField(allow_null=True)
    fraud = serializers.JSONField(allow_null=True)
    next_action = serializers.JSONField(allow_null=True)
    failure_code = serializers.CharField(allow_null=True)
    failure_message = serializers.CharField(allow_null=True)
    decline_code = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    metadata = serializers.DictField(child=serializers.CharField())
    livemode = serializers.BooleanField()
    created = serializers.IntegerField()


class PaymentListOut(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    data = PaymentOut(many=True)
    has_more = serializers.BooleanField()


class RefundOut(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="refund")
    payment = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField(allow_null=True)
    created = serializers.IntegerField()


class LedgerEntryOut(serializers.Serializer):
    entry_id = serializers.IntegerField()
    transaction_id = serializers.IntegerField()
    kind = serializers.CharField()
    account = serializers.CharField()
    debit = serializers.IntegerField()
    credit = serializers.IntegerField()
    currency = serializers.CharField()
    ts = serializers.IntegerField()


class PaymentLedgerOut(serializers.Serializer):
    object = serializers.CharField(default="list")
    payment = serializers.CharField()
    data = LedgerEntryOut(many=True)
    balanced = serializers.BooleanField()


CREATE_EXAMPLE = OpenApiExample(
    "Authorize a card",
    value={"token": "tok_1rDI73m9qDiWXgVlMTmqas", "amount": 2500, "currency": "eur"},
    request_only=True,
)


def _actor(view: ApiView) -> services.Actor:
    return services.Actor.api(view.client.api_key_id)


def _parse_timestamp(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(f"{name} must be a Unix timestamp.", param=name)


class PaymentListCreateView(ApiView):
    @extend_schema(
        operation_id="payments_list",
        parameters=[
            OpenApiParameter("status", str, enum=selectors.STATUSES),
            OpenApiParameter("created[gte]", int, description="Unix timestamp"),
            OpenApiParameter("created[lte]", int, description="Unix timestamp"),
            OpenApiParameter("limit", int, description="1 to 100, default 10"),
            OpenApiParameter("starting_after", str),
            OpenApiParameter("ending_before", str),
        ],
        responses={200: PaymentListOut},
    )
    def get(self, request: Request) -> Response:
        reject_unknown_query_params(request, ("status", "created[gte]", "created[lte]"))
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in selectors.STATUSES:
            raise InvalidRequest(f"Unknown status: {status_filter}", param="status")
        queryset = selectors.payments_for(
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            status=status_filter,
            created_gte=_parse_timestamp(request, "created[gte]"),
            created_lte=_parse_timestamp(request, "created[lte]"),
        )
        return Response(paginate(request, queryset, render_payment))

    @extend_schema(
        operation_id="payments_create",
        request=PaymentCreate,
        responses={201: PaymentOut, 402: PaymentOut},
        examples=[CREATE_EXAMPLE],
        description="Authorize a payment (and capture it with `capture: true`). A decline "
        "answers 402 `card_error` with the failed payment in `error.payment`.",
    )
    def post(self, request: Request) -> Response:
        serializer = PaymentCreate(data=require_json_object(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        method = data.get("payment_method") or {}
        wallet = method.get("wallet") or {}
        customer = data.get("customer") or {}
        payment = services.create_payment(
            request=services.NewPayment(
                merchant_id=self.client.merchant_id,
                livemode=self.client.livemode,
                amount_minor=data["amount"],
                currency=data["currency"],
                capture=data["capture"],
                token_id=data.get("token") or method.get("token", ""),
                wallet_type=wallet.get("type", ""),
                wallet_token=wallet.get("token", ""),
                description=data.get("description", ""),
                metadata=data.get("metadata") or {},
                customer_email=customer.get("email", ""),
                customer_ip=customer.get("ip") or None,
                return_url=data.get("return_url", ""),
            ),
            actor=_actor(self),
        )
        return Response(render_payment(payment), status=status.HTTP_201_CREATED)


class PaymentDetailView(ApiView):
    @extend_schema(operation_id="payments_retrieve", responses={200: PaymentOut})
    def get(self, request: Request, payment_id: str) -> Response:
        payment = selectors.payment(
            payment_id=payment_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
        )
        return Response(render_payment(payment))


class PaymentCaptureView(ApiView):
    @extend_schema(operation_id="payments_capture", request=CaptureIn, responses={200: PaymentOut})
    def post(self, request: Request, payment_id: str) -> Response:
        serializer = CaptureIn(data=request.data if request.data else {})
        serializer.is_valid(raise_exception=True)
        payment = services.capture_payment(
            payment_id=payment_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            amount_minor=serializer.validated_data.get("amount"),
            actor=_actor(self),
        )
        return Response(render_payment(payment))


class PaymentRefundView(ApiView):
    @extend_schema(operation_id="payments_refund", request=RefundIn, responses={200: RefundOut})
    def post(self, request: Request, payment_id: str) -> Response:
        serializer = RefundIn(data=request.data if request.data else {})
        serializer.is_valid(raise_exception=True)
        refund = services.refund_payment(
            payment_id=payment_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            amount_minor=serializer.validated_data.get("amount"),
            reason=serializer.validated_data.get("reason", ""),
            actor=_actor(self),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
        return Response(render_refund(refund), status=status.HTTP_200_OK)


class PaymentCancelView(ApiView):
    @extend_schema(operation_id="payments_cancel", request=CancelIn, responses={200: PaymentOut})
    def post(self, request: Request, payment_id: str) -> Response:
        serializer = CancelIn(data=request.data if request.data else {})
        serializer.is_valid(raise_exception=True)
        payment = services.cancel_payment(
            payment_id=payment_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            actor=_actor(self),
            reason=serializer.validated_data.get("cancellation_reason", ""),
        )
        return Response(render_payment(payment))


class PaymentLedgerView(ApiView):
    @extend_schema(operation_id="payments_ledger", responses={200: PaymentLedgerOut})
    def get(self, request: Request, payment_id: str) -> Response:
        payment = selectors.payment(
            payment_id=payment_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
        )
        entries = ledger_selectors.payment_entries(payment_id=payment.id)
        summary = ledger_selectors.payment_summary(payment_id=payment.id)
        return Response(
            {
                "object": "list",
                "payment": payment.id,
                "data": [
                    {
                        "entry_id": entry.entry_id,
                        "transaction_id": entry.transaction_id,
                        "kind": entry.kind,
                        "account": f"{entry.account_kind}:{entry.account_owner}",
                        "debit": entry.debit_minor,
                        "credit": entry.credit_minor,
                        "currency": entry.currency,
                        "ts": int(entry.ts.timestamp()),
                    }
                    for entry in entries
                ],
                "balanced": summary.balanced,
            }
        )
