"""The simulator's behaviour table stays inside the vault's list of test cards: every card it
gives an outcome to is one test mode accepts (and live mode refuses)."""

from __future__ import annotations

from routing.simulator import cards as simulator_cards
from tokenization import cards as vault_cards


def test_every_card_the_simulator_answers_for_is_a_published_test_card() -> None:
    assert set(simulator_cards.TEST_CARDS) <= set(vault_cards.TEST_CARDS)


def test_the_simulator_declines_each_decline_card_with_the_code_the_vault_documents() -> None:
    for number, verdict in simulator_cards.TEST_CARDS.items():
        if verdict.verdict is simulator_cards.Verdict.DECLINE:
            assert verdict.decline_code in vault_cards.TEST_CARDS[number], number
