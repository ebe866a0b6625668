"""The payments API (DESIGN section 4): create, retrieve, list, capture, refund, cancel, ledger.

Views parse and validate input, call `payments.services`, and render with
`payments.representation`; nothing here changes state by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.validators import URLValidator
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import paginate, reject_unknown_query_params
from core.api.text import first_invisible_character, validate_free_text
from core.api.views import StrictSerializer, require_json_object
from core.errors import InvalidRequest, NotFound
from ledger import selectors as ledger_selectors
from merchants.api_views import ApiView
from payments import collection, currencies, selectors, services
from payments.qr import schemes
from payments.representation import render_payment, render_refund

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_CHARS = 40
METADATA_VALUE_MAX_CHARS = 500
WALLET_TYPES = ["apple_pay", "google_pay"]
PAYMENT_METHOD_TYPES = ["card", "wallet", *collection.COLLECTION_METHODS]


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
        if first_invisible_character(key) or first_invisible_character(str(item)):
            raise serializers.ValidationError(
                "metadata keys and values cannot hold control or formatting characters.",
                code="parameter_invalid",
            )
    return {key: str(item) for key, item in value.items()}


class WalletIn(StrictSerializer):
    type = serializers.ChoiceField(choices=WALLET_TYPES)
    token = serializers.CharField(max_length=10_000)


class PaymentMethodIn(StrictSerializer):
    type = serializers.ChoiceField(choices=PAYMENT_METHOD_TYPES)
    token = serializers.CharField(max_length=40, required=False, help_text="card: the token")
    wallet = WalletIn(required=False, help_text="wallet: the wallet's type and payment token")
    scheme = serializers.ChoiceField(
        choices=list(schemes.SCHEMES),
        required=False,
        help_text="qr: the QR scheme; pix takes BRL, paynow SGD, promptpay THB, upi INR, "
        "emvco any currency.",
    )


class CustomerIn(StrictSerializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    ip = serializers.IPAddressField(required=False, allow_blank=True)
    name = serializers.CharField(
        max_length=140,
        required=False,
        allow_blank=True,
        validators=[validate_free_text],
        help_text="The payer's name. Kept for bank transfers: a credit that arrives without "
        "its reference is suggested to finance by the payer's name.",
    )


class PaymentCreate(StrictSerializer):
    token = serializers.CharField(max_length=40, required=False)
    payment_method = PaymentMethodIn(required=False)
    amount = StrictIntegerField(min_value=1)
    currency = serializers.CharField(min_length=3, max_length=3)
    capture = serializers.BooleanField(required=False, default=False)
    description = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, validators=[validate_free_text]
    )
    metadata = serializers.JSONField(required=False, validators=[validate_metadata])
    customer = CustomerIn(required=False)
    return_url = serializers.URLField(
        max_length=2000,
        required=False,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where the customer goes after 3-D Secure: https (test mode also takes http).",
    )

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
            _validate_scheme(method, data["currency"])
            asked_not_to_capture = "capture" in self.initial_data and not data["capture"]
            if method["type"] in collection.COLLECTION_METHODS and asked_not_to_capture:
                raise serializers.ValidationError(
                    {
                        "capture": serializers.ErrorDetail(
                            "A bank transfer or QR payment is captured when the money "
                            "arrives; capture: false is not possible.",
                            code="parameter_invalid",
                        )
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


def _validate_scheme(method: dict[str, Any], currency: str) -> None:
    """A QR payment names its scheme, which must take the currency; no other method has one."""
    scheme = method.get("scheme")
    if method["type"] == collection.QR:
        message, code = "", ""
        if not scheme:
            message, code = "A QR payment needs a scheme.", "parameter_missing"
        elif (allowed := schemes.SCHEME_CURRENCIES[scheme]) and currency not in allowed:
            message = f"The {scheme} scheme takes {', '.join(sorted(allowed))}, not {currency}."
            code = "scheme_currency_mismatch"
        if message:
            raise serializers.ValidationError(
                {"payment_method": {"scheme": serializers.ErrorDetail(message, code=code)}}
            )
    elif scheme:
        raise serializers.ValidationError(
            {
                "payment_method": {
                    "scheme": serializers.ErrorDetail(
                        "Only a QR payment has a scheme.", code="parameter_unknown"
                    )
                }
            }
        )


def _require_https_return_url(return_url: str, *, livemode: bool) -> None:
    """A live customer is sent back over TLS only; test mode also takes http (a developer's
    local shop)."""
    if livemode and return_url and not return_url.lower().startswith("https://"):
        raise InvalidRequest(
            "return_url must be an https URL in live mode.",
            code="parameter_invalid",
            param="return_url",
        )


class CaptureIn(StrictSerializer):
    amount = StrictIntegerField(min_value=1, required=False)


class RefundIn(StrictSerializer):
    amount = StrictIntegerField(min_value=1, required=False)
    reason = serializers.ChoiceField(
        choices=["duplicate", "fraudulent", "requested_by_customer"], required=False
    )


class CancelIn(StrictSerializer):
    cancellation_reason = serializers.CharField(
        max_length=200, required=False, validators=[validate_free_text]
    )


class RedirectToUrlOut(serializers.Serializer):
    url = serializers.URLField(help_text="The 3-D Secure challenge to send the customer to.")


class CollectionAccountOut(serializers.Serializer):
    iban = serializers.CharField()
    bic = serializers.CharField()
    name = serializers.CharField()


class BankTransferInstructionsOut(serializers.Serializer):
    account = CollectionAccountOut(help_text="The account the customer transfers to.")
    reference = serializers.CharField(
        help_text="The payment's ISO 11649 creditor reference: the transfer must carry it."
    )
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    epc_payload = serializers.CharField(help_text="The EPC069-12 (SEPA credit transfer) QR text.")
    qr_image_url = serializers.URLField(help_text="PNG of the EPC QR code (public).")
    qr_image_svg_url = serializers.URLField(help_text="SVG of the EPC QR code (public).")
    expires_at = serializers.IntegerField(help_text="Unix timestamp; unpaid, it is canceled.")


class QrCodeOut(serializers.Serializer):
    scheme = serializers.ChoiceField(choices=list(schemes.SCHEMES))
    payload = serializers.CharField(help_text="The scheme's QR text (EMVCo string, UPI link).")
    reference = serializers.CharField()
    image_url = serializers.URLField(help_text="PNG of the QR code (public).")
    image_svg_url = serializers.URLField(help_text="SVG of the QR code (public).")
    expires_at = serializers.IntegerField(help_text="Unix timestamp; unpaid, it is canceled.")


class NextActionOut(serializers.Serializer):
    """What the customer must do: one of the objects, named by `type`."""

    type = serializers.ChoiceField(
        choices=["redirect_to_url", "bank_transfer_instructions", "qr_code"]
    )
    redirect_to_url = RedirectToUrlOut(required=False)
    bank_transfer_instructions = BankTransferInstructionsOut(required=False)
    qr_code = QrCodeOut(required=False)


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
    next_action = NextActionOut(allow_null=True)
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
BANK_TRANSFER_EXAMPLE = OpenApiExample(
    "Collect a bank transfer",
    value={"payment_method": {"type": "bank_transfer"}, "amount": 2500, "currency": "eur"},
    request_only=True,
)
QR_EXAMPLE = OpenApiExample(
    "Collect a PIX QR payment",
    value={"payment_method": {"type": "qr", "scheme": "pix"}, "amount": 2500, "currency": "brl"},
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
        examples=[CREATE_EXAMPLE, BANK_TRANSFER_EXAMPLE, QR_EXAMPLE],
        description="Authorize a payment (and capture it with `capture: true`). A decline "
        "answers 402 `card_error` with the failed payment in `error.payment`. A bank transfer "
        "or QR payment answers `requires_action`, its `next_action` holding what the customer "
        "needs to pay (`bank_transfer_instructions` or `qr_code`); it ends `captured` when "
        "the money arrives, or `canceled` after `expires_at`.",
    )
    def post(self, request: Request) -> Response:
        serializer = PaymentCreate(data=require_json_object(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _require_https_return_url(data.get("return_url", ""), livemode=self.client.livemode)
        method = data.get("payment_method") or {}
        wallet = method.get("wallet") or {}
        customer = data.get("customer") or {}
        new_payment = services.NewPayment(
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
            customer_name=" ".join(customer.get("name", "").split()),
        )
        if method.get("type") in collection.COLLECTION_METHODS:
            payment = collection.create_collection_payment(
                request=new_payment,
                method=method["type"],
                scheme=method.get("scheme", ""),
                actor=_actor(self),
            )
        else:
            payment = services.create_payment(request=new_payment, actor=_actor(self))
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


class SimulatePaymentIn(StrictSerializer):
    amount = StrictIntegerField(
        min_value=1, required=False, help_text="What arrives; default the payment's amount."
    )
    payer_name = serializers.CharField(
        max_length=140, required=False, allow_blank=True, validators=[validate_free_text]
    )


class TestHelperSimulatePaymentView(ApiView):
    @extend_schema(
        operation_id="test_helpers_payments_simulate_payment",
        request=SimulatePaymentIn,
        responses={200: PaymentOut},
        description="Test mode only (404 with a live key): the customer pays a bank transfer or "
        "QR payment, through the path production uses — a bank statement credit matched by "
        "reference, or the provider's webhook for a QR payment. Answers with the payment "
        "(`captured` when the money completed it; a QR payment's webhook may still be on its "
        "way).",
    )
    def post(self, request: Request, payment_id: str) -> Response:
        if self.client.livemode:
            raise NotFound("Test helpers exist in test mode only.")
        serializer = SimulatePaymentIn(data=request.data if request.data else {})
        serializer.is_valid(raise_exception=True)
        payment = collection.simulate_payment(
            payment_id=payment_id,
            merchant_id=self.client.merchant_id,
            amount_minor=serializer.validated_data.get("amount"),
            payer_name=serializer.validated_data.get("payer_name", ""),
        )
        return Response(render_payment(payment))
