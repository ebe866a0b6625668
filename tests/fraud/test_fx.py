"""Reference amounts: a currency without an FX rate has no `amount_ref` (rules treat it as absent
instead of comparing an unconverted amount), its missing rate is logged once per process, and
FX rates are stored under the upper-case ISO code."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from fraud import fx, rules, services
from fraud.defaults import DEFAULT_RULES
from fraud.features import sample_context
from fraud.models import Assessment, FxRate, Rule
from tests.fraud.conftest import make_request

pytestmark = pytest.mark.django_db

# The seed has a rate for every currency payments accepts (test_card_testing_defaults.py); these
# two it does not accept have none, as any currency whose rate finance deleted.
NO_RATE_CURRENCY = "NGN"
OTHER_NO_RATE_CURRENCY = "KES"


def test_a_currency_without_a_rate_has_no_reference_amount_and_no_rule_fires_on_it():
    # Unconverted, 2,000,000.00 would trip every "high amount" rule.
    services.create_rule(name="big_one", expression="amount_ref >= 100000", action="review")
    request = make_request(
        amount_minor=200_000_000, currency=NO_RATE_CURRENCY, card_fingerprint="fp_ngn"
    )
    result = services.assess(request=request)
    assert (result.decision, result.rules) == ("allow", ())
    stored = Assessment.objects.get(payment_id=request.payment_id)
    assert stored.amount_ref_minor is None
    assert (stored.features["amount_ref"], stored.features["amount_ref_known"]) == (None, False)
    assert stored.features["velocity"]["card_sum_24h"] == 0
    # The unguarded rule could not judge the payment; it is not broken, so it stays enabled.
    assert Rule.objects.filter(enabled=False).count() == 0


def test_a_known_reference_amount_still_fires_the_amount_rules():
    request = make_request(amount_minor=200_000, currency="usd", card_fingerprint="fp_usd_new")
    result = services.assess(request=request)
    assert Assessment.objects.get(payment_id=request.payment_id).amount_ref_minor == 184_000
    assert "new_card_high_amount" in result.rules


def test_every_default_rule_gives_a_boolean_whether_or_not_the_amount_is_known():
    known = sample_context()
    unknown = {**known, "amount_ref": None, "amount_ref_known": False}
    hot = {**unknown, "card_new": True, "country_mismatch": True}
    for spec in DEFAULT_RULES:
        program = rules.compile_expression(spec["expression"])
        for context in (known, unknown, hot):
            assert isinstance(program.execute(context), bool), spec["name"]
    stored = dict(Rule.objects.values_list("name", "expression"))
    assert {spec["name"]: spec["expression"] for spec in DEFAULT_RULES}.items() <= stored.items()


def test_a_missing_rate_is_logged_once_per_currency_per_process(caplog):
    caplog.set_level(logging.WARNING, logger="qr.fraud")
    for _ in range(3):
        services.assess(request=make_request(currency=NO_RATE_CURRENCY))
    services.assess(request=make_request(currency=OTHER_NO_RATE_CURRENCY.lower()))
    missing = [r.getMessage() for r in caplog.records if "no FX rate" in r.getMessage()]
    assert len(missing) == 2
    assert NO_RATE_CURRENCY in missing[0] and OTHER_NO_RATE_CURRENCY in missing[1]


def test_fx_rate_currency_is_stored_upper_case_and_used_for_conversion():
    rate = FxRate.objects.create(currency=" ngn", exponent=2, rate_to_reference=Decimal("0.05"))
    rate.refresh_from_db()
    assert rate.currency == "NGN"
    fx.reset_cache()
    assert fx.to_reference_minor(amount_minor=10_000, currency="Ngn") == 500


def test_admin_form_refuses_a_lower_case_duplicate_of_an_existing_rate():
    from fraud.admin import FxRateForm

    duplicate = FxRateForm(data={"currency": "usd", "exponent": 2, "rate_to_reference": "0.9"})
    assert not duplicate.is_valid()
    assert "currency" in duplicate.errors
    new = FxRateForm(data={"currency": "ngn", "exponent": 2, "rate_to_reference": "0.05"})
    assert new.is_valid(), new.errors
    assert new.save().currency == "NGN"
