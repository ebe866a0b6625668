"""ledger: the domain errors its services raise (codes the API and callers can rely on)."""

from core.errors import IdempotencyConflict, InvalidRequest, InvalidState


class LedgerInvalidPosting(InvalidRequest):
    """A posting that could never be valid: unknown kind, bad amounts, unbalanced lines."""

    code = "ledger_invalid_posting"


class LedgerInvalidState(InvalidState):
    """A posting the ledger's current state does not allow (over-capture, over-refund, …)."""

    code = "ledger_invalid_state"


class LedgerIdempotencyConflict(IdempotencyConflict):
    """A posting reuses a (kind, reference) already booked for another payment or other lines."""

    code = "ledger_idempotency_conflict"
