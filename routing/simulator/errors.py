"""The simulator's one error type, rendered as `{"error": {"code", "message", "param"?}}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the simulator refuses, with the HTTP status it answers with."""

    def __init__(self, status: int, code: str, message: str, param: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param:
            error["param"] = self.param
        return {"error": error}


def bad_request(code: str, message: str, param: str = "") -> ApiError:
    return ApiError(400, code, message, param)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)
