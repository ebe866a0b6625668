"""Middleware: request ids, Prometheus request metrics, and the JSON error guarantee for /api/.

Everything under /api/ answers in the documented error format even when the failure happens
outside a DRF view: an unknown URL (404), a body over the size limit (413) or an exception that
escaped everything else (500). Never an HTML page, never a traceback.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from core import metrics
from core.api.errors import json_error, render_exception
from core.logging import request_id_var

API_PREFIX = "/api/"


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


class RequestIdMiddleware:
    """Gives every request an id (`Request-Id` header out, available to logs and errors)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id()
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["Request-Id"] = request_id
        return response


class MetricsMiddleware:
    """Counts requests and observes latency per route and status for /metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        metrics.observe_request(
            method=request.method or "",
            route=route,
            status=response.status_code,
            duration_s=time.perf_counter() - started,
        )
        return response


class ApiErrorMiddleware:
    """The error-format guarantee for /api/ outside DRF views."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_BODY_BYTES:
            return json_error(
                413,
                type="invalid_request_error",
                code="request_too_large",
                message=f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes.",
            )
        if "\x00" in request.path_info or "%00" in request.META.get("QUERY_STRING", ""):
            return json_error(
                400,
                type="invalid_request_error",
                code="parameter_invalid",
                message="The URL contains a NUL character, which is not allowed.",
            )
        try:
            resolve(request.path_info)
        except Resolver404:
            return json_error(
                404,
                type="invalid_request_error",
                code="resource_missing",
                message=f"Unrecognized request URL ({request.method}: {request.path}).",
            )
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            # A non-DRF response (Django's CSRF failure, a 404 from get_object_or_404 in a
            # plain view, …): replace the HTML with our format.
            return json_error(
                response.status_code,
                type="api_error" if response.status_code >= 500 else "invalid_request_error",
                code="api_error" if response.status_code >= 500 else "invalid_request",
                message="The request could not be processed.",
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        status, body, headers = render_exception(exception)
        response = json_error(status, **{k: body["error"][k] for k in ("type", "code", "message")})
        for key, value in headers.items():
            response[key] = value
        return response
