"""fraud: the registry through which a higher app (payments) acts on a rejected payment.

fraud may not import payments; payments registers its handler in `AppConfig.ready()`:

    from fraud.hooks import register_reject_handler
    register_reject_handler(services.reject_for_fraud)

A handler is `fn(payment_id: str, actor: str, reason: str, *, refund_allowed: bool) -> str` and
returns what it did ("canceled", "refunded", …). `refund_allowed` says whether the agent may
refund (finance's `payments.refund_payment`): without it a captured payment is refused, not
refunded — the review queue's own permission only ever lets support cancel. fraud calls it
after committing the decision and the blocklist, outside any fraud transaction or lock, so the
handler owns its own transactions. If it raises,
the review item is left `reject_failed` and an agent may reject again: the handler can be
called a second time for the same payment and must then do only what is still undone.
"""

from __future__ import annotations

from typing import Protocol


class RejectHandler(Protocol):
    def __call__(
        self, payment_id: str, actor: str, reason: str, *, refund_allowed: bool
    ) -> str: ...


_reject_handlers: list[RejectHandler] = []


class NoRejectHandler(RuntimeError):
    """Nothing is registered that can cancel or refund a payment."""


def register_reject_handler(fn: RejectHandler) -> None:
    """Register the one handler (a second registration replaces the first: reloads, tests)."""
    _reject_handlers.clear()
    _reject_handlers.append(fn)


def unregister_reject_handler() -> None:
    _reject_handlers.clear()


def reject_handler() -> RejectHandler:
    if not _reject_handlers:
        raise NoRejectHandler(
            "No reject handler is registered: payments must call "
            "fraud.hooks.register_reject_handler in its AppConfig.ready()."
        )
    return _reject_handlers[0]
