"""ledger: the balance API — `GET /api/balance`, the key's merchant's money in the key's mode.

Modelled on Stripe's balance object: per currency, `posted` (what we owe the merchant: every
entry on its merchant_payable account), `pending` (its open authorization holds) and
`available` (posted less pending outflows). Read from the ledger alone (`selectors
.merchant_balance`); test keys see the test books, live keys the live ones.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import InvalidRequest
from ledger import selectors
from merchants.api_views import ApiView


class BalanceAmountOut(serializers.Serializer):
    amount = serializers.IntegerField(help_text="Minor units (cents); may be negative.")
    currency = serializers.CharField(help_text="ISO 4217 code, as payments show it (EUR).")


class BalanceOut(serializers.Serializer):
    object = serializers.CharField(default="balance")
    livemode = serializers.BooleanField(help_text="The key's mode: whose books these are.")
    available = BalanceAmountOut(
        many=True, help_text="Posted less pending outflows (none is two-phase yet: = posted)."
    )
    pending = BalanceAmountOut(many=True, help_text="Open authorization holds, not captured.")
    posted = BalanceAmountOut(many=True, help_text="Captured money owed to you, every entry.")


BALANCE_EXAMPLE = OpenApiExample(
    "A merchant with captured and authorized euros",
    value={
        "object": "balance",
        "livemode": False,
        "available": [{"amount": 7500, "currency": "EUR"}],
        "pending": [{"amount": 2500, "currency": "EUR"}],
        "posted": [{"amount": 7500, "currency": "EUR"}],
    },
    response_only=True,
)


def _amounts(amounts: list[selectors.BalanceAmount]) -> list[dict]:
    return [{"amount": a.amount_minor, "currency": a.currency} for a in amounts]


class BalanceView(ApiView):
    @extend_schema(
        operation_id="balance_retrieve",
        responses={200: BalanceOut},
        examples=[BALANCE_EXAMPLE],
        description="The merchant's balance in the key's mode, per currency: posted, pending "
        "(open authorizations) and available, read from the ledger.",
    )
    def get(self, request: Request) -> Response:
        for name in request.query_params:
            raise InvalidRequest(
                f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
        balance = selectors.merchant_balance(
            merchant_id=self.client.merchant_id, livemode=self.client.livemode
        )
        return Response(
            {
                "object": "balance",
                "livemode": balance.livemode,
                "available": _amounts(balance.available),
                "pending": _amounts(balance.pending),
                "posted": _amounts(balance.posted),
            }
        )
