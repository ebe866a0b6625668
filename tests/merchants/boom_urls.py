"""Test-only URLs: the real ones plus views that fail on purpose."""

from django.urls import path
from rest_framework.response import Response

from config.urls import urlpatterns as real_urlpatterns
from merchants.api_views import ApiView

CALLS = {"boom": 0, "flaky": 0}


class BoomView(ApiView):
    def post(self, request):
        CALLS["boom"] += 1
        raise RuntimeError("database exploded while charging 4242 4242 4242 4242")

    def get(self, request):
        raise RuntimeError("secret internals: tablespace corrupted")


class FlakyView(ApiView):
    """Fails with a 5xx the first time, succeeds the second."""

    def post(self, request):
        CALLS["flaky"] += 1
        if CALLS["flaky"] == 1:
            return Response({"error": "temporarily broken"}, status=503)
        return Response({"ok": True, "call": CALLS["flaky"]}, status=201)


urlpatterns = [
    path("api/test/boom", BoomView.as_view()),
    path("api/test/flaky", FlakyView.as_view()),
    *real_urlpatterns,
]
