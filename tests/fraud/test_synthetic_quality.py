"""The default ruleset on labelled synthetic traffic: a guard against rule changes that stop
catching the modelled fraud or start flagging ordinary shoppers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from fraud import synthetic

pytestmark = pytest.mark.django_db


def test_generator_is_deterministic_and_labelled():
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    first = synthetic.generate(seed=5, start=start, shoppers=30)
    again = synthetic.generate(seed=5, start=start, shoppers=30)
    assert first == again
    scenarios = {attempt.scenario for attempt in first}
    assert {"legit", "card_testing", "stolen_card", "geo_mismatch", "account_takeover"} <= scenarios
    assert all(a.at <= b.at for a, b in itertools.pairwise(first))
    assert not any(attempt.fraud for attempt in first if attempt.scenario == "legit")


@pytest.mark.slow
def test_default_rules_catch_modelled_fraud_without_flagging_shoppers():
    attempts = synthetic.generate(
        seed=23, start=datetime(2026, 3, 1, 8, tzinfo=UTC), shoppers=150,
        card_testing_bursts=3, stolen_cards=10, geo_mismatches=8, account_takeovers=6,
    )  # fmt: skip
    replayed = synthetic.replay(attempts)
    quality = synthetic.quality([(r.attempt, r.decision) for r in replayed])
    assert quality.precision >= 0.85
    assert quality.recall >= 0.75
    assert quality.false_positive_rate <= 0.03
    assert quality.recall_by_scenario["card_testing"] >= 0.6
