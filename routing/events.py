"""How routing tells the apps above it what happened, without importing them.

Two small registries, filled in the higher apps' `AppConfig.ready()`:

- `register_attempt_resolved_handler(fn)`: fn(attempt_id, payment_id, result) is called when a
  timed-out authorization is resolved by a status inquiry (payments moves the payment on);
- `register_webhook_handler(prefix, fn)`: fn(event) is called for each verified provider event
  whose type starts with `prefix` ("payment." → payments, "dispute." → disputes). An event no
  handler claims is stored and marked ignored;
- `register_dispute_handler(fn)`: fn(notice) is called with a `DisputeNotice` for each verified
  provider dispute event (types "dispute.…"). Until one is registered dispute events stay
  stored as received, so none is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from routing.interface import DisputeNotice, ProviderResult, WebhookEvent

AttemptResolvedHandler = Callable[[str, str, ProviderResult], None]
WebhookHandler = Callable[[WebhookEvent], None]
DisputeHandler = Callable[[DisputeNotice], None]

_attempt_resolved_handlers: list[AttemptResolvedHandler] = []
_webhook_handlers: dict[str, WebhookHandler] = {}
_dispute_handler: list[DisputeHandler] = []  # at most one


def register_attempt_resolved_handler(fn: AttemptResolvedHandler) -> None:
    if fn not in _attempt_resolved_handlers:
        _attempt_resolved_handlers.append(fn)


def unregister_attempt_resolved_handler(fn: AttemptResolvedHandler) -> None:
    if fn in _attempt_resolved_handlers:
        _attempt_resolved_handlers.remove(fn)


def register_webhook_handler(event_type_prefix: str, fn: WebhookHandler) -> None:
    """One handler per prefix; registering the same prefix again replaces it."""
    _webhook_handlers[event_type_prefix] = fn


def unregister_webhook_handler(event_type_prefix: str) -> None:
    _webhook_handlers.pop(event_type_prefix, None)


def webhook_handler(event_type_prefix: str) -> WebhookHandler | None:
    """The handler registered for exactly this prefix (to restore it after a test)."""
    return _webhook_handlers.get(event_type_prefix)


def attempt_resolved_handlers() -> tuple[AttemptResolvedHandler, ...]:
    return tuple(_attempt_resolved_handlers)


def webhook_handlers() -> dict[str, WebhookHandler]:
    return dict(_webhook_handlers)


def attempt_resolved(attempt_id: str, payment_id: str, result: ProviderResult) -> None:
    for fn in list(_attempt_resolved_handlers):
        fn(attempt_id, payment_id, result)


def webhook_handler_for(event_type: str) -> WebhookHandler | None:
    """The handler with the longest matching prefix, if any."""
    matches = [p for p in _webhook_handlers if event_type.startswith(p)]
    return _webhook_handlers[max(matches, key=len)] if matches else None


def register_dispute_handler(handler: DisputeHandler) -> None:
    """One handler for all dispute events; registering again replaces it."""
    _dispute_handler[:] = [handler]


def unregister_dispute_handler() -> None:
    _dispute_handler.clear()


def dispute_handler() -> DisputeHandler | None:
    return _dispute_handler[0] if _dispute_handler else None
