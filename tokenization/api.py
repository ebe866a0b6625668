"""`POST /api/tokens`: turn a card into a `tok_…` (publishable or secret key)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.views import StrictSerializer
from merchants.api_views import ApiView
from merchants.authentication import PublishableOrSecretKey
from tokenization import services
from tokenization.models import Token

MAX_CARD_TEXT_CHARS = 40
# An unknown parameter's name is echoed in the error only when it cannot be card data: at most
# this many digits and characters. `{"card": {"4242 4242 4242 4242": "x"}}` must not come back.
MAX_ECHOED_NAME_DIGITS = 4
MAX_ECHOED_NAME_CHARS = 40
WITHHELD_NAME = "<withheld>"


def safe_param_name(name: Any) -> str:
    """An unknown parameter's name as the error may show it."""
    text = str(name)
    digits = sum(char.isdigit() for char in text)
    if digits > MAX_ECHOED_NAME_DIGITS or len(text) > MAX_ECHOED_NAME_CHARS:
        return WITHHELD_NAME
    return text


class _VaultStrictSerializer(StrictSerializer):
    """StrictSerializer whose unknown-parameter error never repeats a name that could be a
    card number (a client that put the number in a key must not get it back, nor our logs)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in self.fields:
                    name = safe_param_name(key)
                    message = (
                        f"Received unknown parameter: {name}"
                        if name != WITHHELD_NAME
                        else "Received an unknown parameter (its name is withheld: it looks "
                        "like card data)."
                    )
                    raise serializers.ValidationError(
                        {name: serializers.ErrorDetail(message, code="parameter_unknown")}
                    )
        return super().to_internal_value(data)


class _CardValue(serializers.Field):
    """A card parameter whose every format error carries the card-specific code (for example
    `invalid_number`) and whose message never repeats the value sent."""

    def __init__(self, *, as_int: bool, code: str, message: str, **kwargs: Any) -> None:
        self.as_int, self.error_code, self.error_message = as_int, code, message
        super().__init__(**kwargs)

    def _fail(self) -> None:
        raise serializers.ValidationError(self.error_message, code=self.error_code)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self._fail()
        text = str(data).strip()
        if len(text) > MAX_CARD_TEXT_CHARS:
            self._fail()
        if not self.as_int:
            return text
        if not text.isascii() or not text.isdigit():
            self._fail()
        return int(text)

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(OpenApiTypes.STR)
class _CardText(_CardValue):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(as_int=False, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class _CardInt(_CardValue):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(as_int=True, **kwargs)


class CardInput(_VaultStrictSerializer):
    number = _CardText(code="invalid_number", message="Your card number is invalid.")
    exp_month = _CardInt(
        code="invalid_expiry_month", message="Your card's expiration month is invalid."
    )
    exp_year = _CardInt(
        code="invalid_expiry_year", message="Your card's expiration year is invalid."
    )
    cvc = _CardText(
        code="invalid_cvc",
        message="Your card's security code is invalid.",
        required=False,
        allow_null=True,
    )
    holder_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TokenInput(_VaultStrictSerializer):
    card = CardInput()


def render_token(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "object": "token",
        "livemode": token.livemode,
        "created": int(token.created.timestamp()),
        "card": {
            "brand": token.brand,
            "last4": token.card_last4,
            "exp_month": token.exp_month,
            "exp_year": token.exp_year,
            "fingerprint": token.fingerprint,
            "country": token.country or None,
            "funding": token.funding,
        },
    }


_TOKEN_RESPONSE = inline_serializer(
    "Token",
    {
        "id": serializers.CharField(),
        "object": serializers.CharField(),
        "livemode": serializers.BooleanField(),
        "created": serializers.IntegerField(),
        "card": inline_serializer(
            "TokenCard",
            {
                "brand": serializers.CharField(),
                "last4": serializers.CharField(),
                "exp_month": serializers.IntegerField(),
                "exp_year": serializers.IntegerField(),
                "fingerprint": serializers.CharField(),
                "country": serializers.CharField(allow_null=True),
                "funding": serializers.CharField(),
            },
        ),
    },
)


class TokenCreateView(ApiView):
    permission_classes = [PublishableOrSecretKey]

    @extend_schema(
        operation_id="tokens_create",
        summary="Tokenize a card",
        description=(
            "Stores the card in the vault and returns a `tok_…` to pay with. Works with a "
            "publishable key (browser) or a secret key. The CVC is held at most 10 minutes "
            "and destroyed by the first authorization. Errors name the parameter "
            "(`card[number]`, …) with codes `invalid_number`, `invalid_expiry_month`, "
            "`invalid_expiry_year`, `expired_card`, `invalid_cvc`."
        ),
        request=TokenInput,
        responses={201: _TOKEN_RESPONSE},
        examples=[
            OpenApiExample(
                "Visa test card",
                request_only=True,
                value={
                    "card": {
                        "number": "4242 4242 4242 4242",
                        "exp_month": 12,
                        "exp_year": 2030,
                        "cvc": "123",
                        "holder_name": "Jane Doe",
                    }
                },
            ),
            OpenApiExample(
                "Token",
                response_only=True,
                status_codes=["201"],
                value={
                    "id": "tok_5n0v1JmGkq3cT2lQ0a8XyZ",
                    "object": "token",
                    "livemode": False,
                    "created": 1767225600,
                    "card": {
                        "brand": "visa",
                        "last4": "4242",
                        "exp_month": 12,
                        "exp_year": 2030,
                        "fingerprint": "9f2c4e0b7a1d5e3c8b6a4f2e0d1c3b5a",
                        "country": "US",
                        "funding": "credit",
                    },
                },
            ),
        ],
        tags=["tokens"],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        card = serializer.validated_data["card"]
        token = services.create_token(
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            number=card["number"],
            exp_month=card["exp_month"],
            exp_year=card["exp_year"],
            cvc=card.get("cvc"),
            holder_name=card.get("holder_name", ""),
        )
        return Response(render_token(token), status=201)
