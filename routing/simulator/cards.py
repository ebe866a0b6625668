"""Card handling inside the simulator: the public test cards, Luhn, brand and expiry checks.

The test card numbers are the well-known public ones (Stripe's), so that a developer who has
used any PSP's sandbox knows what to type. Which numbers ARE test cards is the vault's list
(tokenization/cards.py TEST_CARDS, which test mode accepts and live mode refuses); this table gives
outcomes to some of them (the others approve, at the default approval rate of 1.0), and
tests/routing/test_simulator_cards.py keeps it inside the vault's list. Nothing here keeps a
card number: callers get a `CardVerdict` and keep only BIN and last4.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class Verdict(enum.StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    THREE_DS = "three_ds"
    # Not a test card: the provider's approval rate decides.
    RATE = "rate"


@dataclass(frozen=True)
class CardVerdict:
    verdict: Verdict
    decline_code: str = ""
    message: str = ""
    # Stripe's dispute test cards: a captured payment is disputed for this reason shortly
    # after capture; `inquiry` opens an inquiry (warning_needs_response) instead of a chargeback.
    dispute_reason: str = ""
    inquiry: bool = False


# The public test cards, honoured exactly regardless of the approval-rate knobs.
TEST_CARDS: dict[str, CardVerdict] = {
    "4242424242424242": CardVerdict(Verdict.APPROVE),
    "4000000000000002": CardVerdict(Verdict.DECLINE, "generic_decline", "Your card was declined."),
    "4000000000009995": CardVerdict(
        Verdict.DECLINE, "insufficient_funds", "Your card has insufficient funds."
    ),
    "4000000000009987": CardVerdict(Verdict.DECLINE, "lost_card", "Your card was declined."),
    "4000000000009979": CardVerdict(Verdict.DECLINE, "stolen_card", "Your card was declined."),
    "4000000000006975": CardVerdict(
        Verdict.DECLINE, "card_velocity_exceeded", "Your card was declined."
    ),
    "4000000000000069": CardVerdict(Verdict.DECLINE, "expired_card", "Your card has expired."),
    "4000000000000127": CardVerdict(
        Verdict.DECLINE, "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "4000000000000119": CardVerdict(
        Verdict.DECLINE, "processing_error", "An error occurred while processing your card."
    ),
    "4000000000003220": CardVerdict(Verdict.THREE_DS),
    "4000000000003063": CardVerdict(Verdict.THREE_DS),
    "4100000000000019": CardVerdict(
        Verdict.DECLINE, "fraudulent", "The payment was blocked as suspected fraud."
    ),
    "4000000000000259": CardVerdict(Verdict.APPROVE, dispute_reason="fraudulent"),
    "4000000000002685": CardVerdict(Verdict.APPROVE, dispute_reason="product_not_received"),
    "4000000000001976": CardVerdict(Verdict.APPROVE, dispute_reason="general", inquiry=True),
}

APPROVED = CardVerdict(Verdict.APPROVE)
INCORRECT_NUMBER = CardVerdict(Verdict.DECLINE, "incorrect_number", "The card number is invalid.")
EXPIRED = CardVerdict(Verdict.DECLINE, "expired_card", "Your card has expired.")


def luhn_valid(number: str) -> bool:
    """True when `number` is 12-19 digits with a correct Luhn check digit."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    """The card brand from the leading digits (enough for routing rules and approval knobs)."""
    if number.startswith("4"):
        return "visa"
    prefix2 = int(number[:2]) if len(number) >= 2 and number[:2].isdigit() else 0
    prefix4 = int(number[:4]) if len(number) >= 4 and number[:4].isdigit() else 0
    if 51 <= prefix2 <= 55 or 2221 <= prefix4 <= 2720:
        return "mastercard"
    if prefix2 in (34, 37):
        return "amex"
    if prefix4 == 6011 or prefix2 == 65:
        return "discover"
    if prefix2 == 35:
        return "jcb"
    return "unknown"


def is_expired(exp_month: int, exp_year: int, today: dt.date | None = None) -> bool:
    """A card is valid through the last day of its expiry month."""
    today = today or dt.datetime.now(dt.UTC).date()
    return (exp_year, exp_month) < (today.year, today.month)


def judge_card(number: str, exp_month: int, exp_year: int) -> CardVerdict:
    """What the card itself says, before any approval-rate roll."""
    if number in TEST_CARDS:
        return TEST_CARDS[number]
    if not luhn_valid(number):
        return INCORRECT_NUMBER
    if is_expired(exp_month, exp_year):
        return EXPIRED
    return CardVerdict(Verdict.RATE)
