"""ledger.statements: the registry through which payments matches bank credits to payments.

ledger may not import payments; payments registers its matcher in `AppConfig.ready()`:

    from ledger.statements.hooks import register_credit_matcher
    register_credit_matcher(bank_transfers.MATCHER)

The ledger calls the matcher inside the transaction that holds the statement line's row lock,
so a payment the matcher completes (and books) commits together with the line's new state, or
neither does. The matcher must therefore make no network call; it answers with a `Decision`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


class Outcome:
    """What the matcher decided for a credit line (the line's state follows it)."""

    MATCHED = "matched"  # the payment is completed and booked
    MANUAL = "manual_queue"  # finance staff decide; suggestions attached
    HELD_OVERPAID = "held_overpaid"  # the reference found one payment, the credit is larger
    HELD_UNDERPAID = "held_underpaid"  # the reference found one payment, the credit is smaller


@dataclass(frozen=True)
class CreditLine:
    """What the matcher sees of one credit on a collection account's statement."""

    line_id: int
    livemode: bool
    account_iban: str
    amount_minor: int
    currency: str
    booking_date: date | None
    bank_reference: str
    payer_name: str
    remittance: str
    # ISO 11649 references found in the remittance whose check digits hold, normalised: every
    # form each "RF" start may spell (a word after it can make a longer valid one by chance)
    references: tuple[str, ...]
    # RF-looking tokens whose check digits fail (a mistyped reference)
    malformed: tuple[str, ...]


@dataclass(frozen=True)
class Suggestion:
    """An open payment finance staff may want to match a queued credit to."""

    payment_id: str
    amount_minor: int
    currency: str
    reference: str
    customer_name: str
    score: float  # 0..1, higher is likelier
    why: str


@dataclass(frozen=True)
class Decision:
    outcome: str  # an Outcome value
    payment_id: str = ""  # the payment completed, or held against
    note: str = ""  # why, in a sentence finance staff read in the queue
    suggestions: tuple[Suggestion, ...] = field(default_factory=tuple)


class CreditMatcher(Protocol):
    def match(self, credit: CreditLine) -> Decision:
        """Decide by reference; complete and book the payment when it settles it exactly."""

    def settle(self, credit: CreditLine, *, payment_id: str, username: str) -> Decision:
        """A finance user's decision: complete this payment with this credit (the same checks
        and booking as `match`). Raises an DomainError (InvalidState, InvalidRequest
        `amount_mismatch`, NotFound) when the payment cannot take it; never holds or queues."""


_matchers: list[CreditMatcher] = []  # at most one


class NoCreditMatcher(RuntimeError):
    """Nothing is registered that can complete a payment from a bank credit."""


def register_credit_matcher(matcher: CreditMatcher) -> None:
    """Register the one matcher (a second registration replaces the first: reloads, tests)."""
    _matchers.clear()
    _matchers.append(matcher)


def unregister_credit_matcher() -> None:
    _matchers.clear()


def credit_matcher() -> CreditMatcher:
    if not _matchers:
        raise NoCreditMatcher(
            "No bank credit matcher is registered (payments registers it in PaymentsConfig.ready)."
        )
    return _matchers[0]
