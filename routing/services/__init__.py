"""routing's write side: authorize with routing and cascade, follow-up calls (capture, refund,
void), resolution of unknown outcomes, incoming provider webhooks, provider setup.

The public names other apps call are re-exported here; each lives in the module named for what
it does. `sent_as_sale` is a read (routing.selectors), re-exported because payments asks it
right after these calls, through this one import.
"""

from routing.selectors import sent_as_sale
from routing.services.adapters import adapter_for
from routing.services.authorize import (
    AuthorizationOutcome,
    PaymentRoutingRequest,
    authorize,
)
from routing.services.followups import capture, refund, resolve_unknown_attempt, void
from routing.services.incoming import process_incoming_event
from routing.services.setup import seed_providers
from routing.services.webhooks import receive_webhook

__all__ = [
    "AuthorizationOutcome",
    "PaymentRoutingRequest",
    "adapter_for",
    "authorize",
    "capture",
    "process_incoming_event",
    "receive_webhook",
    "refund",
    "resolve_unknown_attempt",
    "seed_providers",
    "sent_as_sale",
    "void",
]
