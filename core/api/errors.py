"""How errors reach an API client (DESIGN section 4).

Domain code raises `core.errors` exceptions, which carry a `code` and a `param` but no HTTP
status. `exception_handler` (DRF's hook) and `ApiErrorMiddleware` (for what happens outside DRF)
give each its status and type here, and turn them, DRF's own exceptions and anything unexpected
into the documented body:

    {"error": {"type", "code", "message", "param"?, "decline_code"?, "payment"?, "request_id"}}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from core.errors import (
    AuthenticationFailed,
    CardDeclined,
    DomainError,
    IdempotencyConflict,
    IdempotencyKeyInUse,
    NotFound,
    PermissionDenied,
    ProviderUnavailable,
)
from core.logging import request_id_var

logger = logging.getLogger("qr.api")


# What a client sees of each domain error: (HTTP status, error type). The most specific class
# in an error's MRO decides.
HTTP_OF_ERROR: dict[type[DomainError], tuple[int, str]] = {
    DomainError: (400, "invalid_request_error"),
    NotFound: (404, "invalid_request_error"),
    AuthenticationFailed: (401, "authentication_error"),
    PermissionDenied: (403, "permission_error"),
    CardDeclined: (402, "card_error"),
    IdempotencyConflict: (400, "idempotency_error"),
    IdempotencyKeyInUse: (409, "idempotency_error"),
    ProviderUnavailable: (502, "api_error"),
}


def http_of(exc: DomainError) -> tuple[int, str]:
    """(status, type) of a domain error."""
    for cls in type(exc).__mro__:
        if cls in HTTP_OF_ERROR:
            return HTTP_OF_ERROR[cls]
    return HTTP_OF_ERROR[DomainError]


def error_body(
    *,
    type: str,
    code: str,
    message: str,
    param: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type, "code": code, "message": message}
    if param:
        error["param"] = param
    error.update({key: value for key, value in extra.items() if value is not None})
    error["request_id"] = request_id_var.get()
    return {"error": error}


# DRF's generic validation codes become ours; a serializer's own codes (invalid_number,
# amount_too_large, …) pass through unchanged.
_MISSING_CODES = {"required", "null", "blank"}
_GENERIC_CODES = {
    "invalid", "max_length", "min_length", "max_value", "min_value", "max_digits",
    "max_decimal_places", "max_whole_digits", "date", "datetime", "invalid_choice", "not_a_list",
    "empty", "does_not_exist", "incorrect_type", "unique", "not_a_dict", "format", "overflow",
    "max_string_length", "make_aware",
}  # fmt: skip


def _validation_code(code: str) -> str:
    if code in _MISSING_CODES:
        return "parameter_missing"
    if code in _GENERIC_CODES:
        return "parameter_invalid"
    return code


def _first_validation_error(detail: Any, path: tuple[str, ...] = ()) -> tuple[str, Any]:
    """The first (param, ErrorDetail) in a DRF ValidationError's nested detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = () if key == "non_field_errors" else (str(key),)
            return _first_validation_error(value, path + sub)
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, dict | list):
            index_path = path + ("0",) if isinstance(first, dict) else path
            return _first_validation_error(first, index_path)
        return _param_name(path), first
    return _param_name(path), detail


def _param_name(path: tuple[str, ...]) -> str:
    """("card", "number") → "card[number]", the way Stripe names nested parameters."""
    if not path:
        return ""
    return path[0] + "".join(f"[{part}]" for part in path[1:])


def _from_drf(exc: drf.APIException) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers: dict[str, str] = {}
    if isinstance(exc, drf.ValidationError):
        param, detail = _first_validation_error(exc.detail)
        code = _validation_code(getattr(detail, "code", "invalid"))
        message = str(detail)
        if param and not message.startswith(param):
            message = f"{param}: {message}"
        body = error_body(
            type="invalid_request_error", code=code, message=message, param=param or None
        )
        return 400, body, headers
    if isinstance(exc, drf.Throttled):
        wait_s = int(exc.wait or 1) + (0 if float(exc.wait or 1).is_integer() else 1)
        headers["Retry-After"] = str(max(wait_s, 1))
        body = error_body(
            type="rate_limit_error",
            code="rate_limit",
            message="Too many requests with this API key; retry after the Retry-After seconds.",
        )
        return 429, body, headers
    mapping: dict[type, tuple[str, str]] = {
        drf.NotAuthenticated: ("authentication_error", "api_key_missing"),
        drf.AuthenticationFailed: ("authentication_error", "invalid_api_key"),
        drf.PermissionDenied: ("permission_error", "permission_denied"),
        drf.NotFound: ("invalid_request_error", "resource_missing"),
        drf.MethodNotAllowed: ("invalid_request_error", "method_not_allowed"),
        drf.UnsupportedMediaType: ("invalid_request_error", "unsupported_media_type"),
        drf.ParseError: ("invalid_request_error", "parse_error"),
        drf.NotAcceptable: ("invalid_request_error", "not_acceptable"),
    }
    type_, code = next(
        (value for cls, value in mapping.items() if isinstance(exc, cls)),
        ("api_error" if exc.status_code >= 500 else "invalid_request_error", "api_error"),
    )
    message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "Invalid request."
    if isinstance(exc, drf.ParseError):
        message = (
            str(exc.detail)
            if "NUL" in str(exc.detail) or "nested" in str(exc.detail)
            else ("The request body is not valid JSON.")
        )
    status = exc.status_code
    if isinstance(exc, drf.NotAuthenticated):
        status = 401
        message = "No API key provided. Send it as `Authorization: Bearer sk_test_…`."
    if getattr(exc, "auth_header", None) or status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return status, error_body(type=type_, code=code, message=message), headers


def render_exception(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for any exception; unknown ones become a logged 500."""
    if isinstance(exc, DomainError):
        status, type_ = http_of(exc)
        body = error_body(
            type=type_, code=exc.code, message=exc.message, param=exc.param, **exc.extra
        )
        return status, body, {}
    if isinstance(exc, RequestDataTooBig):
        body = error_body(
            type="invalid_request_error",
            code="request_too_large",
            message="The request body is too large.",
        )
        return 413, body, {}
    if isinstance(exc, Http404):
        exc = drf.NotFound("No such object.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.APIException):
        return _from_drf(exc)
    logger.error("unhandled exception in API request", exc_info=exc)
    body = error_body(
        type="api_error",
        code="api_error",
        message="An unexpected error occurred on our side. Quote the request_id to support.",
    )
    return 500, body, {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception in a DRF view becomes the documented body."""
    status, body, headers = render_exception(exc)
    return Response(body, status=status, headers=headers)


def json_error(status: int, *, type: str, code: str, message: str) -> JsonResponse:
    """An error response outside DRF (middleware, URL resolver)."""
    return JsonResponse(error_body(type=type, code=code, message=message), status=status)
