"""Provider adapters: one module per provider, each implementing `routing.interface.Adapter`.

This package holds only what every adapter shares: the errors an adapter raises instead of
returning a `ProviderResult`. Nothing here imports Django, so adapters (and the simulator's
tests) run without a configured project.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base class for adapter failures that are not a provider outcome."""


class WebhookVerificationError(AdapterError):
    """An incoming provider event whose signature is missing, wrong or stale: reject it (400)
    and never act on its body."""


class WebhookAuthenticationError(WebhookVerificationError):
    """The request itself did not authenticate (the provider's HTTP Basic credentials are
    missing or wrong): refuse it with 401, before looking at its body."""


class SettlementReportError(AdapterError):
    """A settlement report could not be fetched or parsed; the reconciliation run retries."""


__all__ = [
    "AdapterError",
    "SettlementReportError",
    "WebhookAuthenticationError",
    "WebhookVerificationError",
]
