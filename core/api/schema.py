"""OpenAPI post-processing: the documented error object on every operation."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "request_id"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [
                        "invalid_request_error",
                        "authentication_error",
                        "permission_error",
                        "card_error",
                        "idempotency_error",
                        "rate_limit_error",
                        "api_error",
                    ],
                },
                "code": {"type": "string", "example": "parameter_missing"},
                "message": {"type": "string"},
                "param": {"type": "string", "example": "amount"},
                "decline_code": {"type": "string", "example": "insufficient_funds"},
                "payment": {"type": "object", "description": "The failed payment (card_error)."},
                "request_id": {"type": "string", "example": "req_4f1c2a9b0d7e6f5a3b2c1d0e"},
            },
        }
    },
    "example": {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_missing",
            "message": "amount: This field is required.",
            "param": "amount",
            "request_id": "req_4f1c2a9b0d7e6f5a3b2c1d0e",
        }
    },
}

COMMON_ERRORS = {
    "400": "Invalid request (parameter_missing, parameter_invalid, parameter_unknown, "
    "idempotency_key_reused, …)",
    "401": "Missing, invalid or revoked API key",
    "403": "The key may not do this (e.g. a publishable key)",
    "404": "No such object (or it belongs to another merchant or mode)",
    "409": "idempotency_key_in_use: a request with this key is still running",
    "429": "Rate limited; see Retry-After",
    "500": "api_error",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_ERRORS.items():
                if status == "409" and method != "post":
                    continue
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
            if method == "post":
                params = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in params):
                    params.append(
                        {
                            "in": "header",
                            "name": "Idempotency-Key",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 255},
                            "description": "Makes the POST safe to retry: kept 24 hours.",
                        }
                    )
    return result
