"""Rules and decisions: blocklists, allow-lists first, the simulator's fraud card, scores,
stored assessments and what the payment object shows."""

from __future__ import annotations

import pytest

from fraud import selectors, services
from fraud.models import Assessment, ReviewItem
from tests.fraud.conftest import make_request

pytestmark = pytest.mark.django_db


def test_ordinary_payment_is_allowed_and_stored_with_its_features():
    request = make_request()
    result = services.assess(request=request)
    assert result.decision == "allow"
    assert result.rules == ()
    assert 0 <= result.score < 50
    stored = Assessment.objects.get(payment_id=request.payment_id)
    assert stored.id == result.assessment_id
    assert stored.features["ip"]["country"] == "DE"
    assert stored.features["velocity"]["card_1m"] == 1
    assert stored.latency_ms > 0
    assert "number" not in str(stored.features)


def test_payment_object_reads_score_decision_and_rules():
    request = make_request(bin="410000", last4="0019", card_fingerprint="fp_sim_fraud")
    result = services.assess(request=request)
    shown = selectors.assessment_for_payment(payment_id=request.payment_id)
    assert shown == result
    assert shown.decision == "block"
    assert shown.rules == ("simulator_fraud_card",)
    assert shown.score == 100
    assert selectors.assessment_for_payment(payment_id="pay_unknown") is None


def test_blocklisted_card_is_blocked():
    services.add_list_entry(kind="card", value="fp_stolen", reason="reported stolen")
    result = services.assess(request=make_request(card_fingerprint="fp_stolen"))
    assert result.decision == "block"
    assert "blocklisted" in result.rules


def test_ip_inside_a_blocklisted_range_is_blocked_and_outside_is_not():
    services.add_list_entry(kind="ip", value="203.0.113.0/24")
    inside = services.assess(request=make_request(ip="203.0.113.77", card_fingerprint="fp_a"))
    outside = services.assess(request=make_request(ip="203.0.114.1", card_fingerprint="fp_b"))
    assert inside.decision == "block"
    assert outside.decision == "allow"


def test_a_merchant_s_own_list_entries_apply_to_it_alone_and_global_ones_to_everyone():
    services.add_list_entry(kind="card", value="fp_acme_only", merchant_id="mer_acme")
    services.add_list_entry(kind="ip", value="198.51.100.7", merchant_id="mer_acme")
    services.add_list_entry(kind="card", value="fp_everywhere")

    def decision(merchant_id: str, **request) -> str:
        return services.assess(request=make_request(merchant_id=merchant_id, **request)).decision

    assert decision("mer_acme", card_fingerprint="fp_acme_only") == "block"
    assert decision("mer_globex", card_fingerprint="fp_acme_only") == "allow"
    assert decision("mer_acme", ip="198.51.100.7", card_fingerprint="fp_1") == "block"
    assert decision("mer_globex", ip="198.51.100.7", card_fingerprint="fp_2") == "allow"
    assert decision("mer_globex", card_fingerprint="fp_everywhere") == "block"


@pytest.mark.parametrize("value", ["fe80::1%eth0", "203.0.113.0/33", "not-an-ip"])
def test_an_ip_entry_postgresql_cannot_read_as_inet_is_refused_with_a_clear_error(value):
    from core.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as refused:
        services.add_list_entry(kind="ip", value=value)
    assert refused.value.param == "value"


def test_ipv6_ranges_and_addresses_block_what_they_contain():
    services.add_list_entry(kind="ip", value="2001:db8::/32")
    services.add_list_entry(kind="ip", value="2001:db9::7")
    for ip, expected in (
        ("2001:db8::1", "block"),
        ("2001:db8:ffff::2", "block"),
        ("2001:db9::7", "block"),
        ("2001:db9::8", "allow"),
        ("203.0.113.9", "allow"),
    ):
        assert services.assess(request=make_request(ip=ip, card_fingerprint=ip)).decision == (
            expected
        ), ip


def test_blocklisted_email_matches_case_insensitively_and_bin_blocks():
    services.add_list_entry(kind="email", value="Bad@Example.com")
    services.add_list_entry(kind="bin", value="555555")
    assert services.assess(request=make_request(email="BAD@example.COM")).decision == "block"
    assert (
        services.assess(request=make_request(bin="555555", card_fingerprint="fp_x")).decision
        == "block"
    )


def test_allow_listed_customer_is_never_blocked_by_a_broad_rule():
    services.create_rule(name="block_everything", expression="amount > 0", action="block")
    services.add_list_entry(kind="email", value="vip@example.com", list_name="allow")
    vip = services.assess(request=make_request(email="vip@example.com"))
    other = services.assess(request=make_request(email="someone@example.com"))
    assert (vip.decision, vip.score, vip.rules) == ("allow", 0, ("allowlisted",))
    assert other.decision == "block"
    assert "block_everything" in other.rules


def test_allow_list_beats_blocklist_for_the_same_customer():
    services.add_list_entry(kind="card", value="fp_both")
    services.add_list_entry(kind="card", value="fp_both", list_name="allow")
    assert services.assess(request=make_request(card_fingerprint="fp_both")).decision == "allow"


def test_strongest_fired_action_wins_block_over_challenge_over_review():
    services.create_rule(name="r_review", expression="amount > 0", action="review", weight=1)
    services.create_rule(name="r_chal", expression="amount > 0", action="challenge", weight=1)
    result = services.assess(request=make_request())
    assert result.decision == "challenge"
    assert result.rules == ("r_chal", "r_review")  # evaluation order: challenge before review
    services.create_rule(name="r_block", expression="amount > 0", action="block", weight=1)
    assert services.assess(request=make_request()).decision == "block"


def test_challenge_for_a_wallet_payment_becomes_review():
    services.create_rule(name="r_chal", expression="amount > 0", action="challenge")
    result = services.assess(request=make_request(method="wallet", card_fingerprint=""))
    assert result.decision == "review"


def test_score_is_the_sum_of_fired_weights_plus_features_capped_at_100():
    services.create_rule(name="w30", expression="amount > 0", action="review", weight=30)
    services.create_rule(name="w45", expression="amount > 0", action="review", weight=45)
    # A German card paid from a US IP: country mismatch adds 10 feature points.
    result = services.assess(request=make_request(ip="8.8.8.8"))
    assert result.score == 30 + 45 + 10
    # Score 85 ≥ CHALLENGE_SCORE: the score's action is stronger than the rules' review.
    assert result.decision == "challenge"
    services.create_rule(name="w50", expression="amount > 0", action="review", weight=50)
    assert services.assess(request=make_request()).score == 100


def test_review_decision_opens_a_review_item():
    services.create_rule(name="look", expression="amount_ref >= 100000", action="review")
    request = make_request(amount_minor=150000)
    result = services.assess(request=request)
    assert result.decision == "review"
    item = ReviewItem.objects.get(payment_id=request.payment_id)
    assert item.status == "open"
    assert item.assessment_id == result.assessment_id


def test_per_merchant_rule_only_applies_to_its_merchant():
    services.create_rule(
        name="acme_only", expression="amount > 0", action="block", merchant_id="mer_acme"
    )
    assert services.assess(request=make_request(merchant_id="mer_acme")).decision == "block"
    assert services.assess(request=make_request(merchant_id="mer_globex")).decision == "allow"


def test_amount_is_converted_to_the_reference_currency():
    # Seeded rate: 1 JPY = 0.0062 EUR; JPY has no minor unit. 100000 JPY = 620.00 EUR.
    request = make_request(amount_minor=100_000, currency="JPY")
    services.assess(request=request)
    assert Assessment.objects.get(payment_id=request.payment_id).amount_ref_minor == 62_000


def test_high_amount_paid_from_another_country_is_challenged():
    request = make_request(amount_minor=60_000, ip="8.8.8.8")  # DE card, US IP, 600.00 EUR
    result = services.assess(request=request)
    assert result.decision == "challenge"
    assert "high_amount_country_mismatch" in result.rules


def test_assessing_the_same_payment_twice_returns_the_first_answer():
    request = make_request()
    first = services.assess(request=request)
    assert services.assess(request=request) == first
    assert Assessment.objects.filter(payment_id=request.payment_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_assessing_twice_outside_a_transaction_returns_the_first_answer():
    # The hot path runs in autocommit: the lone INSERT has no savepoint around it.
    request = make_request(card_fingerprint="fp_autocommit")
    first = services.assess(request=request)
    assert services.assess(request=request) == first
    assert Assessment.objects.filter(payment_id=request.payment_id).count() == 1
