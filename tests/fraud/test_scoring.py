"""The score formula's invariants, for any combination of fired rules and features."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fraud import scoring

ACTIONS = ("review", "challenge", "block")


def context(card_1h: int, declines: int, mismatch: bool, new: bool, amount: int, cards: int):
    return {
        "velocity": {"card_1h": card_1h, "ip_cards_24h": cards},
        "declines_1h": declines,
        "country_mismatch": mismatch,
        "card_new": new,
        "amount_ref": amount,
        "method": "card",
    }


contexts = st.builds(
    context,
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.booleans(),
    st.booleans(),
    st.integers(0, 10**9),
    st.integers(0, 1000),
)
fired = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 100)), max_size=12)


@given(fired=fired, ctx=contexts)
def test_score_stays_within_0_and_100_and_never_undercuts_a_fired_action(fired, ctx):
    actions = [action for action, _ in fired]
    score, decision = scoring.decide(
        allowed=False,
        fired_actions=actions,
        fired_weights=[weight for _, weight in fired],
        context=ctx,
    )
    assert 0 <= score <= 100
    strongest = max((scoring.STRENGTH[a] for a in actions), default=0)
    assert scoring.STRENGTH[decision] >= strongest
    assert scoring.STRENGTH[decision] >= scoring.STRENGTH[scoring.score_action(score)]


@given(fired=fired, ctx=contexts)
def test_an_allow_rule_always_means_allow_with_score_zero(fired, ctx):
    score, decision = scoring.decide(
        allowed=True,
        fired_actions=[a for a, _ in fired],
        fired_weights=[w for _, w in fired],
        context=ctx,
    )
    assert (score, decision) == (0, "allow")
