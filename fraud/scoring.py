"""fraud: the score (0–100) and the decision (docs/fraud.md, "Score and decision").

score = 0 when an allow rule fired, else
        min(100, sum(weight of each fired rule) + feature_score)
feature_score = min(20, 5 × (velocity.card_1h − 1))      repeated use of one card
              + min(30, 10 × declines_1h)                  recent declines of this card
                (both 0 for a published test card: a test suite repeats it on purpose)
              + 10 if country_mismatch                     IP country ≠ card country
              + 10 if the card is new and amount_ref ≥ NEW_CARD_HIGH_AMOUNT_REF_MINOR (known)
              + 10 if velocity.ip_cards_24h ≥ IP_MANY_CARDS

decision = allow when an allow rule fired, else the strongest of
           (the strongest action among fired rules: block > challenge > review,
            the action of the score: ≥ BLOCK_SCORE → block, ≥ CHALLENGE_SCORE → challenge,
            ≥ REVIEW_SCORE → review, else allow)
A challenge (3-D Secure) only exists for cards: for other methods it becomes review.
"""

from __future__ import annotations

from typing import Any

from fraud.models import Action

MAX_SCORE = 100
REVIEW_SCORE = 50
CHALLENGE_SCORE = 70
BLOCK_SCORE = 90
NEW_CARD_HIGH_AMOUNT_REF_MINOR = 20_000  # 200.00 in the reference currency
IP_MANY_CARDS = 3

STRENGTH = {Action.ALLOW: 0, Action.REVIEW: 1, Action.CHALLENGE: 2, Action.BLOCK: 3}


def feature_score(context: dict[str, Any]) -> int:
    velocity = context["velocity"]
    score = 0
    if not context.get("test_card"):
        score += min(20, 5 * max(0, velocity["card_1h"] - 1))
        score += min(30, 10 * context["declines_1h"])
    if context["country_mismatch"]:
        score += 10
    amount_ref = context["amount_ref"]  # None: no FX rate, so never "high"
    if (
        context["card_new"]
        and amount_ref is not None
        and amount_ref >= NEW_CARD_HIGH_AMOUNT_REF_MINOR
    ):
        score += 10
    if velocity["ip_cards_24h"] >= IP_MANY_CARDS:
        score += 10
    return score


def score_action(score: int) -> str:
    if score >= BLOCK_SCORE:
        return Action.BLOCK
    if score >= CHALLENGE_SCORE:
        return Action.CHALLENGE
    if score >= REVIEW_SCORE:
        return Action.REVIEW
    return Action.ALLOW


def decide(
    *, allowed: bool, fired_actions: list[str], fired_weights: list[int], context: dict[str, Any]
) -> tuple[int, str]:
    """(score, decision) from the fired rules and the features."""
    if allowed:
        return 0, Action.ALLOW
    score = min(MAX_SCORE, sum(fired_weights) + feature_score(context))
    decision = max([score_action(score), *fired_actions], key=lambda action: STRENGTH[action])
    if decision == Action.CHALLENGE and context["method"] != "card":
        decision = Action.REVIEW
    return score, str(decision)
