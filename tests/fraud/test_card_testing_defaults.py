"""The default rules against card testing, and the test-mode contract they keep: a published
test card's own repeats are never a fraud decline, many DIFFERENT cards still are; a decline-ratio
spike per merchant (per mode) or per API key blocks and alerts; every accepted currency has a
reference amount."""

from __future__ import annotations

import logging

import pytest

from fraud import metrics, services
from fraud.models import FxRate
from payments.currencies import EXPONENTS
from tests.fraud.conftest import make_request

pytestmark = pytest.mark.django_db

BURST_IP = "203.0.113.50"


def _assess(**overrides):
    return services.assess(request=make_request(**overrides))


def _declined(**overrides):
    request = make_request(**overrides)
    result = services.assess(request=request)
    services.record_outcome(
        payment_id=request.payment_id, approved=False, decline_code="generic_decline"
    )
    return result


def test_every_accepted_currency_has_a_reference_rate_with_its_exponent():
    rates = dict(FxRate.objects.values_list("currency", "exponent"))
    missing = {code for code in EXPONENTS if code != "EUR" and code not in rates}
    assert missing == set()
    assert {code: rates[code] for code in EXPONENTS if code != "EUR"} == {
        code: exponent for code, exponent in EXPONENTS.items() if code != "EUR"
    }


def test_small_amounts_in_any_accepted_currency_reach_the_ip_card_testing_rule():
    for index, currency in enumerate(("NOK", "CAD", "AUD", "KRW", "TND")):
        small = 500 if EXPONENTS[currency] == 2 else (50 if EXPONENTS[currency] == 0 else 5000)
        results = [
            _assess(
                card_fingerprint=f"fp_{currency}_{n}",
                ip=f"198.51.100.{10 + index}",
                currency=currency,
                amount_minor=small,
            )
            for n in range(4)
        ]
        assert "card_testing_burst" in results[-1].rules, currency
        assert results[-1].decision == "block", currency


def test_a_test_card_repeated_in_a_minute_is_never_a_fraud_decline():
    results = [_assess(test_card=True, card_fingerprint="fp_test_4242") for _ in range(6)]
    assert [r.decision for r in results] == ["allow"] * 6
    assert all(r.rules == () for r in results)


def test_a_card_that_is_no_test_card_repeated_in_a_minute_is_still_blocked():
    results = [_assess(card_fingerprint="fp_real_card") for _ in range(3)]
    assert results[-1].decision == "block"
    assert "card_testing_burst" in results[-1].rules


def test_a_test_decline_card_keeps_being_tried_without_a_fraud_decline():
    results = [_declined(test_card=True, card_fingerprint="fp_test_0002") for _ in range(6)]
    assert {r.decision for r in results} == {"allow"}
    assert "repeated_declines" not in {name for r in results for name in r.rules}


def test_a_real_card_declined_three_times_is_blocked():
    # Spread over more than a minute would not matter: declines count over the hour.
    for _ in range(3):
        _declined(card_fingerprint="fp_real_declines", ip="")
    result = _assess(card_fingerprint="fp_real_declines", ip="")
    assert "repeated_declines" in result.rules and result.decision == "block"


def test_many_different_test_cards_from_one_ip_at_small_amounts_are_cut_off():
    results = [
        _assess(test_card=True, card_fingerprint=f"fp_test_{n}", ip=BURST_IP, amount_minor=500)
        for n in range(6)
    ]
    assert [r.decision for r in results[:3]] == ["allow", "allow", "review"]
    assert all(r.decision == "block" for r in results[3:])
    assert "card_testing_burst" in results[3].rules


def test_velocity_counts_by_api_key_when_no_ip_is_sent():
    for n in range(3):
        _assess(card_fingerprint=f"fp_key_{n}", ip="", api_key_id="key_server")
    request = make_request(card_fingerprint="fp_key_9", ip="", api_key_id="key_server")
    services.assess(request=request)
    from fraud.models import Assessment

    stored = Assessment.objects.get(payment_id=request.payment_id)
    assert stored.api_key_id == "key_server"
    assert (stored.features["velocity"]["key_1m"], stored.features["velocity"]["key_1h"]) == (4, 4)


def test_a_merchant_decline_spike_blocks_and_alerts_once(caplog):
    caplog.set_level(logging.ERROR, logger="qr.fraud")
    services._alerted_at.clear()  # the once-per-5-minutes memory of this process
    before = metrics.spike_blocks_total.labels("merchant_decline_spike")._value.get()
    live = {"merchant_id": "mer_spike", "livemode": True, "ip": ""}
    for n in range(20):
        _declined(card_fingerprint=f"fp_spike_{n}", **live)

    blocked = [_assess(card_fingerprint=f"fp_spike_next_{n}", **live) for n in range(2)]

    assert all(r.decision == "block" for r in blocked)
    assert all("merchant_decline_spike" in r.rules for r in blocked)
    after = metrics.spike_blocks_total.labels("merchant_decline_spike")._value.get()
    assert after - before == 2
    alerts = [r for r in caplog.records if "merchant_decline_spike" in r.getMessage()]
    assert len(alerts) == 1 and "mer_spike" in alerts[0].getMessage()


def test_test_mode_declines_never_count_against_live_payments():
    for n in range(25):
        _declined(card_fingerprint=f"fp_ci_{n}", merchant_id="mer_ci", livemode=False, ip="")
    live = _assess(card_fingerprint="fp_live_shopper", merchant_id="mer_ci", livemode=True, ip="")
    assert live.decision == "allow", live.rules


def test_a_decline_spike_on_one_api_key_blocks_that_key():
    shop = {"merchant_id": "mer_keys", "livemode": True, "ip": ""}
    for n in range(30):
        _assess(card_fingerprint=f"fp_good_{n}", api_key_id="key_checkout", **shop)
    for n in range(20):
        _declined(card_fingerprint=f"fp_tested_{n}", api_key_id="key_leaked", **shop)

    leaked = _assess(card_fingerprint="fp_tested_next", api_key_id="key_leaked", **shop)
    checkout = _assess(card_fingerprint="fp_good_next", api_key_id="key_checkout", **shop)

    assert leaked.decision == "block"
    assert "api_key_decline_spike" in leaked.rules
    assert "merchant_decline_spike" not in leaked.rules  # 20 of 51 at the merchant: no spike
    assert checkout.decision == "allow", checkout.rules


def test_declined_test_cards_never_make_a_decline_spike():
    for n in range(25):
        _declined(test_card=True, card_fingerprint=f"fp_test_{n % 5}", ip="", api_key_id="key_ci")
    result = _assess(test_card=True, card_fingerprint="fp_test_0", ip="", api_key_id="key_ci")
    assert result.decision == "allow", result.rules


def test_the_migration_rewrites_unedited_defaults_and_keeps_edited_ones():
    from importlib import import_module

    from django.apps import apps

    from fraud.defaults import CARD_TESTING_BURST
    from fraud.models import Rule

    migration = import_module("fraud.migrations.0006_test_mode_and_card_testing_defaults")
    old_burst, _ = migration.TEST_CARD_GUARDS["card_testing_burst"]
    Rule.objects.filter(name="card_testing_burst").update(expression=old_burst)
    Rule.objects.filter(name="repeated_declines").update(expression="declines_1h >= 5")  # edited
    Rule.objects.filter(name__in=["merchant_decline_spike", "api_key_decline_spike"]).delete()
    FxRate.objects.filter(currency="NOK").delete()
    FxRate.objects.filter(currency="USD").update(rate_to_reference="0.5")  # finance's edit

    migration.update_defaults(apps, None)

    stored = dict(Rule.objects.values_list("name", "expression"))
    assert stored["card_testing_burst"] == CARD_TESTING_BURST
    assert stored["repeated_declines"] == "declines_1h >= 5"
    assert {"merchant_decline_spike", "api_key_decline_spike"} <= stored.keys()
    assert FxRate.objects.filter(currency="NOK").exists()
    assert str(FxRate.objects.get(currency="USD").rate_to_reference).startswith("0.5")
