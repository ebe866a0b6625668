"""bench: the framework ceiling endpoint for bench/payments_load.py.

A bare DRF view that does the least any API write must do here: authenticate the API key with
our `ApiKeyAuthentication` (one indexed read), check it is a secret key, INSERT one row and
answer JSON. No idempotency, throttling, serializer or business logic: whatever the payment
path costs beyond this is ours to explain. Mounted only by bench/urls.py (bench settings).
"""

from __future__ import annotations

from django.db import connection
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from merchants.authentication import ApiKeyAuthentication, SecretKeyRequired

CEILING_TABLE = "bench_ceiling_rows"
CREATE_TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {CEILING_TABLE} ("
    "id bigserial PRIMARY KEY, merchant_id varchar(40) NOT NULL, "
    "amount bigint NOT NULL, created timestamptz NOT NULL DEFAULT now())"
)
INSERT_SQL = f"INSERT INTO {CEILING_TABLE} (merchant_id, amount) VALUES (%s, %s) RETURNING id"


class CeilingView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [SecretKeyRequired]
    throttle_classes: list = []

    def post(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(INSERT_SQL, [request.user.merchant_id, 1000])
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id, "object": "ceiling"}, status=201)
