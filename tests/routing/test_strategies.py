"""Routing strategies choose as configured: rules, lowest cost, adaptive approval rate,
weighted volume split; every decision records candidates, scores and why."""

from __future__ import annotations

import collections

from hypothesis import given
from hypothesis import strategies as st

from routing import selectors, services, strategies
from routing.cascade import should_cascade
from routing.interface import Outcome, ProviderResult
from routing.models import Attempt, Provider, RoutingProfile, RoutingRule
from routing.providers import FeeRule, ProviderConfig, invalidate, provider_configs
from routing.simulator.fees import FeeRule as SimFeeRule
from routing.simulator.fees import fee_minor as sim_fee_minor
from tests.routing.conftest import RATED, card_token, payment_request

SPLIT_DRAWS = 2000


def _profile(merchant, *names: str, exploration_rate: float = 0.0) -> None:
    RoutingProfile.objects.update_or_create(
        merchant_id=merchant.merchant.id,
        defaults={"strategies": list(names), "exploration_rate": exploration_rate},
    )


def _history(provider: str, approved: int, declined: int, brand: str = "visa") -> None:
    outcomes = ["approved"] * approved + ["soft_decline"] * declined
    Attempt.objects.bulk_create(
        Attempt(
            kind="authorize",
            payment_id=f"pay_hist_{provider}_{index}",
            merchant_id="m_hist",
            provider=provider,
            method="card",
            brand=brand,
            currency="EUR",
            amount_minor=1000,
            outcome=outcome,
        )
        for index, outcome in enumerate(outcomes)
    )


def test_lowest_cost_sends_the_payment_to_the_cheaper_provider(merchant, providers, sim):
    _profile(merchant, "cost")

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert outcome.provider == "sim-b"  # 2.50 % + 25 beats 2.90 % + 30
    assert outcome.fee_minor == 25 + (1000 * 250 + 5000) // 10_000
    decision = selectors.decision_for_payment(payment_id=Attempt.objects.get().payment_id)
    scores = {c["provider"]: c["scores"].get("cost") for c in decision.candidates}
    assert scores["sim-a"] == -59.0 and scores["sim-b"] == -50.0


def test_cost_follows_a_fee_schedule_edited_in_the_admin(merchant, providers, sim):
    _profile(merchant, "cost")
    provider = Provider.objects.get(name="sim-a")
    provider.fee_schedule = {"*": {"percent_bp": 100, "fixed_minor": 0}}
    provider.save()  # the save invalidates the cached provider metadata

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert outcome.provider == "sim-a"


def test_highest_recent_approval_rate_wins_and_adapts(merchant, providers, sim):
    _profile(merchant, "approval_rate", "priority")
    _history("sim-a", approved=20, declined=80)
    _history("sim-b", approved=90, declined=10)

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert outcome.provider == "sim-b"
    decision = selectors.decision_for_payment(
        payment_id=Attempt.objects.latest("created").payment_id
    )
    rates = {c["provider"]: c["scores"].get("approval_rate_raw") for c in decision.candidates}
    assert rates["sim-a"] < 0.25 < 0.85 < rates["sim-b"]


def test_approval_rate_window_forgets_old_attempts(db, providers):
    _history("sim-a", approved=0, declined=50)
    Attempt.objects.filter(provider="sim-a").update(created="2020-01-01T00:00:00Z")

    approved, total = strategies.approval_sample(
        provider="sim-a", brand="visa", currency="EUR", window_s=3600, max_attempts=500
    )

    assert (approved, total) == (0, 0)


def test_approval_rate_live_sim_b_better_moves_traffic(merchant, providers, sim, monkeypatch):
    """Over HTTP: sim-a approves 30 %, sim-b 95 %; after a learning phase the adaptive strategy
    sends most first attempts to sim-b."""
    monkeypatch.setenv("ROUTING_MAX_DECLINES_PER_CARD_24H", "1000")  # one test card, many tries
    _profile(merchant, "approval_rate", "priority", exploration_rate=0.2)
    strategies.rng.seed(3)
    sim.control("sim-a", approval_rate={"*": 0.3}, seed=1)
    sim.control("sim-b", approval_rate={"*": 0.95}, seed=2)
    first_choice = collections.Counter()
    for _ in range(40):
        outcome = services.authorize(
            request=payment_request(merchant, token_id=card_token(merchant, RATED))
        )
        first_choice[outcome.attempts[0][1]] += 1

    assert first_choice["sim-b"] > first_choice["sim-a"] * 2


def test_currency_rule_pins_the_provider(merchant, providers, sim):
    _profile(merchant, "rules", "priority")
    RoutingRule.objects.create(
        merchant_id=merchant.merchant.id, currency="GBP", providers=["sim-b"]
    )

    gbp = services.authorize(
        request=payment_request(merchant, token_id=card_token(merchant), currency="GBP")
    )
    eur = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert (gbp.provider, eur.provider) == ("sim-b", "sim-a")
    decision = selectors.decision_for_payment(
        payment_id=Attempt.objects.get(provider="sim-b").payment_id
    )
    assert "rule" in decision.reason


def test_amount_and_brand_rule_matches_only_within_bounds(db, providers):
    RoutingRule.objects.create(
        merchant_id="", brand="visa", min_amount_minor=10_000, providers=["sim-b", "sim-a"]
    )
    context = strategies.RoutingContext(
        merchant_id="m1", amount_minor=50_000, currency="EUR", method="card", brand="visa"
    )
    profile = strategies.Profile(strategies=("rules",))
    configs = list(provider_configs().values())

    big = strategies.rank(context=context, providers=configs, profile=profile)
    small = strategies.rank(
        context=strategies.RoutingContext(**{**context.__dict__, "amount_minor": 9_999}),
        providers=configs,
        profile=profile,
    )

    assert big.order == ("sim-b", "sim-a")
    assert small.order == ("sim-a", "sim-b")


def test_volume_split_follows_the_weights(db, providers):
    Provider.objects.filter(name="sim-a").update(weight=3)
    invalidate()
    strategies.rng.seed(11)
    context = strategies.RoutingContext(
        merchant_id="m1", amount_minor=100, currency="EUR", method="card"
    )
    profile = strategies.Profile(strategies=("volume_split",))
    configs = list(provider_configs().values())

    firsts = collections.Counter(
        strategies.rank(context=context, providers=configs, profile=profile).order[0]
        for _ in range(SPLIT_DRAWS)
    )

    share_a = firsts["sim-a"] / SPLIT_DRAWS
    assert 0.70 < share_a < 0.80  # weight 3 : 1 → 75 %


def test_unsupported_currency_excludes_a_provider(merchant, providers, sim):
    Provider.objects.filter(name="sim-a").update(currencies=["USD"])
    invalidate()

    outcome = services.authorize(request=payment_request(merchant, token_id=card_token(merchant)))

    assert outcome.outcome == Outcome.APPROVED and outcome.provider == "sim-b"


@given(
    amount_minor=st.integers(min_value=1, max_value=10**12),
    percent_bp=st.integers(min_value=0, max_value=10_000),
    fixed_minor=st.integers(min_value=0, max_value=10_000),
)
def test_fee_estimate_equals_the_simulators_fee_exactly(amount_minor, percent_bp, fixed_minor):
    config = ProviderConfig(
        name="p", kind="simulator", enabled=True, methods=("card",), currencies=(), brands=(),
        fees={"*": FeeRule(percent_bp=percent_bp, fixed_minor=fixed_minor)}, priority=1,
        weight=1, credentials_env="", timeout_ms=1000,
    )  # fmt: skip
    schedule = {"*": SimFeeRule(percent_bp=percent_bp, fixed_minor=fixed_minor)}

    ours = config.fee_minor(amount_minor=amount_minor, currency="EUR")

    assert ours == sim_fee_minor(schedule, "EUR", amount_minor)
    assert isinstance(ours, int)


def test_cascade_table_decides_per_provider_kind_and_code():
    def result(outcome: Outcome, code: str) -> ProviderResult:
        return ProviderResult(outcome=outcome, provider="p", reference="att_1", decline_code=code)

    assert should_cascade(
        provider_kind="simulator", result=result(Outcome.SOFT_DECLINE, "try_again_later")
    )
    assert not should_cascade(
        provider_kind="stripe", result=result(Outcome.SOFT_DECLINE, "authentication_required")
    )
    assert not should_cascade(
        provider_kind="adyen", result=result(Outcome.SOFT_DECLINE, "do_not_try_again")
    )
    assert should_cascade(provider_kind="adyen", result=result(Outcome.PROVIDER_ERROR, ""))
    assert not should_cascade(
        provider_kind="adyen", result=result(Outcome.HARD_DECLINE, "processing_error")
    )
    assert not should_cascade(provider_kind="simulator", result=result(Outcome.TIMEOUT_UNKNOWN, ""))


def test_rules_and_profiles_are_read_once_a_second_and_a_save_applies_at_once(
    db, providers, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    context = strategies.RoutingContext(
        merchant_id="m_memo", amount_minor=1000, currency="EUR", method="card", brand="visa"
    )
    assert strategies.matching_rule(context=context) is None
    with CaptureQueriesContext(connection) as queries:
        strategies.profile_for(merchant_id="m_memo")
        strategies.matching_rule(context=context)
    assert queries.captured_queries == []  # memoized in this process

    rule = RoutingRule.objects.create(merchant_id="m_memo", providers=["sim-b"])
    assert strategies.matching_rule(context=context) == rule  # the save cleared the memo

    # An edit this process does not hear of (another process's save, a bulk update) shows
    # once the memo expires.
    clock = [10.0**6]
    monkeypatch.setattr(strategies.time, "monotonic", lambda: clock[0])
    strategies.forget_process_memo()
    assert strategies.matching_rule(context=context) == rule  # memoized at the fake time
    RoutingRule.objects.filter(pk=rule.pk).update(enabled=False)
    clock[0] += strategies.CONFIG_MEMO_TTL_S / 2
    assert strategies.matching_rule(context=context) == rule  # still the memo's view
    clock[0] += strategies.CONFIG_MEMO_TTL_S / 2
    assert strategies.matching_rule(context=context) is None
