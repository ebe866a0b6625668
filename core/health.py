"""Liveness, readiness and the Prometheus scrape endpoint (outside /api/, no API key)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from core import metrics

BROKER_CHECK_TIMEOUT_S = 2.0


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # readiness reports the failure instead of raising it
        return f"error: {type(exc).__name__}"


def _check_broker() -> str:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_CHECK_TIMEOUT_S)
        return "ok"
    except Exception as exc:  # readiness reports the failure instead of raising it
        return f"error: {type(exc).__name__}"


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _scraper_allowed(request: HttpRequest) -> bool:
    if settings.METRICS_TOKEN:
        return request.headers.get("Authorization") == f"Bearer {settings.METRICS_TOKEN}"
    if not settings.METRICS_ALLOW_LOOPBACK:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _scraper_allowed(request):
        return JsonResponse({"error": "metrics are for the scraper"}, status=403)
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
