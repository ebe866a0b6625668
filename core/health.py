"""Liveness, readiness and the Prometheus scrape endpoint (outside /api/, no API key)."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from core import metrics

logger = logging.getLogger(__name__)
BROKER_CHECK_TIMEOUT_S = 2.0


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # readiness reports the failure instead of raising it
        logger.warning("readyz: the database check failed", exc_info=True)
        return False


def _check_broker() -> bool:
    try:
        # The project's Celery app (config/celery.py makes it the current one at start-up).
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_CHECK_TIMEOUT_S)
        return True
    except Exception:  # readiness reports the failure instead of raising it
        logger.warning("readyz: the broker check failed", exc_info=True)
        return False


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """{"status", "checks": {name: bool}}: the reason for a failure goes to the log only, not to
    an unauthenticated caller."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _scraper_allowed(request: HttpRequest) -> bool:
    if settings.METRICS_TOKEN:
        presented = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(presented, f"Bearer {settings.METRICS_TOKEN}".encode())
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
