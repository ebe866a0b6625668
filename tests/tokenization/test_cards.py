"""Card rules: brand by IIN range, lengths, Luhn, CVC and expiry (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from core.errors import InvalidRequest
from tokenization import cards
from tokenization.scrubbing import luhn_valid


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("4222222222222", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("2720990000000007", "mastercard"),
        ("378282246310005", "amex"),
        ("371449635398431", "amex"),
        ("6011111111111117", "discover"),
        ("6221260000000000", "discover"),
        ("6500000000000002", "discover"),
        ("3530111333300000", "jcb"),
        ("3566002020360505", "jcb"),
        ("30569309025904", "diners"),
        ("36227206271667", "diners"),
        ("6200000000000005", "unionpay"),
        ("6759649826438453", "maestro"),
        ("5018000000000009", "maestro"),
    ],
)
def test_brand_is_detected_from_the_iin_range(number: str, brand: str) -> None:
    digits, detected = cards.validate_number(number)
    assert (digits, detected) == (number, brand)


def test_spaces_and_dashes_are_accepted_in_the_number() -> None:
    assert cards.validate_number("4242 4242-4242 4242")[0] == "4242424242424242"


@pytest.mark.parametrize(
    "number",
    ["4242424242424241", "424242424242", "37828224631000", "abcd", "", "4242 4242 4242 424x"],
)
def test_invalid_numbers_are_refused_without_echoing_them(number: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        cards.validate_number(number)
    assert caught.value.code == "invalid_number"
    assert caught.value.param == "card[number]"
    assert not number or number not in caught.value.message


def _luhn_complete(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


@pytest.mark.parametrize(
    "number",
    [
        "0000 0000 0000 0000",  # Luhn-valid, but no network issues from IIN 0
        _luhn_complete("100000000000000"),
        _luhn_complete("700000000000000"),
        _luhn_complete("900000000000000"),
        _luhn_complete("800000000000000"),  # 8 is not UnionPay's 81
        _luhn_complete("200000000000000"),  # below Mastercard's 2221
        _luhn_complete("310000000000000"),  # a gap between Diners/JCB/Amex ranges
    ],
)
def test_a_luhn_valid_number_from_no_card_network_is_refused(number: str) -> None:
    assert luhn_valid(number.replace(" ", ""))
    assert cards.detect_brand(number.replace(" ", "")) == cards.UNKNOWN
    with pytest.raises(InvalidRequest) as caught:
        cards.validate_number(number)
    assert (caught.value.code, caught.value.param) == ("invalid_number", "card[number]")


def test_a_mastercard_with_visa_length_is_refused() -> None:
    # 19 digits passing Luhn but Mastercard is 16 digits only.
    number = "5555555555554444000"
    number = number[:-1] + next(d for d in "0123456789" if luhn_valid(number[:-1] + d))
    with pytest.raises(InvalidRequest, match="wrong number of digits"):
        cards.validate_number(number)


@pytest.mark.parametrize(
    ("brand", "cvc", "ok"),
    [
        ("visa", "123", True),
        ("visa", "1234", False),
        ("amex", "1234", True),
        ("amex", "123", False),
        ("visa", "12a", False),
    ],
)
def test_cvc_length_depends_on_the_brand(brand: str, cvc: str, ok: bool) -> None:
    if ok:
        assert cards.validate_cvc(cvc, brand=brand) == cvc
    else:
        with pytest.raises(InvalidRequest) as caught:
            cards.validate_cvc(cvc, brand=brand)
        assert (caught.value.code, caught.value.param) == ("invalid_cvc", "card[cvc]")


@pytest.mark.parametrize(
    ("month", "year", "code"),
    [
        (0, 2030, "invalid_expiry_month"),
        (13, 2030, "invalid_expiry_month"),
        (1, 2070, "invalid_expiry_year"),
        (1, 1999, "invalid_expiry_year"),
        (5, 2026, "expired_card"),
        (12, 2025, "expired_card"),
    ],
)
def test_bad_expiry_dates_have_their_own_codes(month: int, year: int, code: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        cards.validate_expiry(exp_month=month, exp_year=year, today=date(2026, 6, 15))
    assert caught.value.code == code


def test_the_current_month_is_not_expired_and_two_digit_years_mean_2000s() -> None:
    assert cards.validate_expiry(exp_month=6, exp_year=26, today=date(2026, 6, 15)) == 2026


def test_bin_table_gives_country_for_test_cards() -> None:
    assert cards.bin_info("4242424242424242").country == "US"
    assert cards.bin_info("4000000000000002").country == "US"
    assert cards.bin_info("4000000760000002").country == "BR"
    assert cards.bin_info("4000056655665556").funding == "debit"
    assert cards.bin_info("9999999999999995").country == ""


@given(st.from_regex(r"4[0-9]{14}", fullmatch=True))
def test_any_visa_number_completed_by_luhn_is_valid(prefix: str) -> None:
    number = prefix + next(d for d in "0123456789" if luhn_valid(prefix + d))
    assert cards.validate_number(number) == (number, "visa")


@given(st.text(alphabet="0123456789 -", min_size=4, max_size=40))
def test_no_validation_message_ever_contains_the_number(raw: str) -> None:
    try:
        cards.validate_number(raw)
    except InvalidRequest as error:
        digits = raw.replace(" ", "").replace("-", "")
        assert len(digits) < 4 or digits not in error.message
        assert raw.strip() not in error.message or len(raw.strip()) < 4
