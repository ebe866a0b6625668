"""The error language of our domain code.

Services raise these, each with a `code` (a stable, documented string) and, where one parameter
is at fault, its `param`; extra fields (`decline_code`, `payment`) travel in `extra`. They know
nothing of HTTP: `core.api.errors` decides the status code and error type a client sees.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error our code reports on purpose."""

    code = "invalid_request"

    def __init__(
        self, message: str, *, code: str | None = None, param: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.param = param
        self.extra = extra  # decline_code, payment, …


class InvalidRequest(DomainError):
    """The request is wrong: a missing or invalid parameter, an unsupported value."""


class NotFound(DomainError):
    """No such object in the caller's scope (another merchant's objects are not found either)."""

    code = "resource_missing"


class InvalidState(DomainError):
    """The object is not in a state that allows this action (an illegal FSM transition)."""

    code = "payment_invalid_state"


class AuthenticationFailed(DomainError):
    code = "invalid_api_key"


class PermissionDenied(DomainError):
    code = "permission_denied"


class CardDeclined(DomainError):
    """A decline: the failed payment is still created and is returned inside the error."""

    code = "card_declined"


class IdempotencyConflict(DomainError):
    """The Idempotency-Key was already used with a different request."""

    code = "idempotency_key_reused"


class IdempotencyKeyInUse(IdempotencyConflict):
    """The first request with this Idempotency-Key is still running."""

    code = "idempotency_key_in_use"


class ProviderUnavailable(DomainError):
    """No provider could be reached to do what was asked."""

    code = "provider_unavailable"
