"""EMVCo merchant-presented QR: published examples byte for byte, the CRC catching corruption,
each profile's required fields, round trips, and bad input refused."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.br import cnpj
from stdnum.sg import uen
from stdnum.th import pin

from payments.qr import emvco
from payments.qr.crc import crc16_ccitt, crc16_hex
from payments.qr.emvco import (
    MerchantQR,
    build_merchant_qr,
    decode_tlv,
    encode_merchant_qr,
    encode_tlv,
    parse_merchant_qr,
    verified_fields,
)
from payments.qr.schemes import SchemeAccount, scheme_payload

# Banco Central do Brasil, "Manual de Padrões para Iniciação do Pix": the static BR Code
# (field 01 left out, no amount, txid ***) and the dynamic one (payload location in 26/25).
BCB_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
BCB_DYNAMIC = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)
# EMVCo QRCPS Merchant-Presented Mode v1.1, appendix example: two merchant account templates
# (29, 31), a language template (64) holding Chinese text, tip indicator 55, additional data
# 62 with store/terminal/purpose labels, an unreserved template 91, fields not in id order.
EMVCO_EXAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN"
    "5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京"
    "540523.7253031565502016233030412340603***0708A60086670902ME"
    "91320016A0112233449988770708123456786304A13A"
)
# No central-bank example was found for PayNow or PromptPay; these are payloads widely used as
# test vectors by open-source implementations, their CRCs checked here against ours.
PAYNOW_INTEROP = (
    "00020101021226370009SG.PAYNOW010120210201207337D03010520400005303702540510.005802SG"
    "5916Nerdherd Pte Ltd6009Singapore6304F832"
)
PAYNOW_INTEROP_EXPIRY = (
    "00020101021226490009SG.PAYNOW010120210201101550Z03010040820201127520400005303702540550.00"
    "5802SG5907Qryptal6009Singapore62060102AJ630488E9"
)
PROMPTPAY_INTEROP = (
    "00020101021229370016A000000677010111011300668999999995802TH53037645406420.006304CF9E"
)

UUID_KEY = "123e4567-e12b-12d1-a456-426655440000"


def field(payload: str, tag: str) -> str:
    return dict(verified_fields(payload))[tag]


def subfields(payload: str, tag: str) -> dict[str, str]:
    return dict(decode_tlv(field(payload, tag)))


# --- published examples ------------------------------------------------------------------------


def test_bcb_static_example_is_reproduced_byte_for_byte():
    payload = build_merchant_qr(
        profile="pix",
        merchant_id=UUID_KEY,
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
        currency="BRL",
        point_of_initiation="",
    )
    assert payload == BCB_STATIC


def test_bcb_static_example_parses_to_its_fields():
    assert parse_merchant_qr(BCB_STATIC) == MerchantQR(
        profile="pix",
        merchant_id=UUID_KEY,
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
        currency="BRL",
        amount_minor=None,
        reference="",
        mcc="0000",
        country="BR",
        point_of_initiation="",
    )


def test_bcb_dynamic_example_is_reproduced_byte_for_byte():
    qr = parse_merchant_qr(BCB_DYNAMIC)
    assert qr.location == "pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    assert (qr.merchant_id, qr.amount_minor, qr.point_of_initiation) == ("", None, "12")
    assert encode_merchant_qr(qr) == BCB_DYNAMIC


def test_emvco_specification_example_checks_and_reencodes_byte_for_byte():
    fields = verified_fields(EMVCO_EXAMPLE)
    assert [tag for tag, _ in fields] == [
        "00", "01", "29", "31", "52", "58", "59", "60", "64", "54", "53", "55", "62", "91",
    ]  # fmt: skip
    assert emvco.with_crc(encode_tlv(fields)) == EMVCO_EXAMPLE


def test_emvco_example_nested_templates_decode_and_lengths_count_characters():
    assert subfields(EMVCO_EXAMPLE, "29") == {"00": "D15600000000", "05": "A93FO3230Q"}
    assert subfields(EMVCO_EXAMPLE, "64") == {"00": "ZH", "01": "最佳运输", "02": "北京"}
    assert subfields(EMVCO_EXAMPLE, "62") == {
        "03": "1234",
        "06": "***",
        "07": "A6008667",
        "09": "ME",
    }
    assert emvco.parse_amount(field(EMVCO_EXAMPLE, "54"), "USD") == 2372


def test_crc_is_ccitt_false_over_utf8_bytes():
    assert crc16_ccitt(b"123456789") == 0x29B1  # the catalogued check value
    assert crc16_hex(EMVCO_EXAMPLE[:-4]) == "A13A"
    assert crc16_hex(BCB_STATIC[:-4]) == "1D3D"


@pytest.mark.parametrize("payload", [PAYNOW_INTEROP, PAYNOW_INTEROP_EXPIRY])
def test_paynow_interop_vectors_are_reproduced_byte_for_byte(payload):
    qr = parse_merchant_qr(payload)
    assert qr.profile == "paynow"
    assert encode_merchant_qr(qr) == payload


def test_promptpay_interop_vector_parses():
    # Real PromptPay codes put 58 before 53 and leave out MCC, name and city.
    qr = parse_merchant_qr(PROMPTPAY_INTEROP)
    assert (qr.profile, qr.merchant_id, qr.amount_minor, qr.currency) == (
        "promptpay",
        "0899999999",
        42000,
        "THB",
    )


# --- corruption and malformed payloads ------------------------------------------------------------


@given(
    position=st.integers(min_value=0, max_value=len(BCB_STATIC) - 1),
    replacement=st.sampled_from(string.ascii_letters + string.digits + " *.-"),
)
def test_any_single_character_change_is_refused(position, replacement):
    if BCB_STATIC[position] == replacement:
        return
    corrupted = BCB_STATIC[:position] + replacement + BCB_STATIC[position + 1 :]
    with pytest.raises(ValueError):
        parse_merchant_qr(corrupted)


def test_bad_crc_names_both_checksums():
    with pytest.raises(ValueError, match=r"CRC mismatch.*1D3E.*1D3D"):
        parse_merchant_qr(BCB_STATIC[:-4] + "1D3E")


def test_lower_case_crc_is_refused():
    with pytest.raises(ValueError, match="CRC"):
        parse_merchant_qr(BCB_STATIC[:-4] + "1d3d")


@pytest.mark.parametrize("cut", [1, 3, 4, 8, 40])
def test_truncated_payload_is_refused(cut):
    with pytest.raises(ValueError):
        parse_merchant_qr(BCB_STATIC[:-cut])


def test_truncated_field_names_the_field():
    with pytest.raises(ValueError, match="truncated: field 59 declares 13"):
        decode_tlv("5913Fulano")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("00020126", "truncated"),
        ("0002015X04abcd", "bad id or length"),
        ("000201", "no CRC"),
        ("0002016305ABCDE", "4 hex digits"),
        (emvco.with_crc("000202"), "payload format indicator"),
        (emvco.with_crc(BCB_STATIC[:-8].replace("52040000", "")), "lacks mandatory field 52"),
    ],
)
def test_malformed_payloads_are_refused(payload, message):
    with pytest.raises(ValueError, match=message):
        parse_merchant_qr(payload)


def test_payload_without_a_readable_account_template_is_refused():
    body = encode_tlv(
        [("00", "01"), ("52", "0000"), ("53", "986"), ("58", "BR"), ("59", "A"), ("60", "B")]
    )
    with pytest.raises(ValueError, match="no merchant account template"):
        parse_merchant_qr(emvco.with_crc(body))


def test_repeated_top_level_field_is_refused():
    body = BCB_STATIC[:-8] + "5802BR"
    with pytest.raises(ValueError, match="payload repeats a field"):
        parse_merchant_qr(emvco.with_crc(body))


def test_repeated_template_subfield_is_refused():
    body = BCB_STATIC[:-8].replace("62070503***", "621405035550503***")
    with pytest.raises(ValueError, match="template 62 repeats a field"):
        parse_merchant_qr(emvco.with_crc(body))


def test_pix_template_is_found_outside_26_too():
    body = BCB_STATIC[:-8].replace("2658", "2758", 1)
    assert parse_merchant_qr(emvco.with_crc(body)).merchant_id == UUID_KEY


def test_value_longer_than_99_characters_cannot_be_encoded():
    with pytest.raises(ValueError, match="at most 99"):
        encode_tlv([("59", "x" * 100)])


# --- profiles ---------------------------------------------------------------------------------


def pix(**overrides) -> str:
    arguments = {
        "profile": "pix",
        "merchant_id": "fulano@example.com",
        "merchant_name": "Fulano de Tal",
        "merchant_city": "BRASILIA",
        "currency": "BRL",
        "amount_minor": 1990,
        "reference": "PED123",
    } | overrides
    return build_merchant_qr(**arguments)


def test_pix_dynamic_payload_has_the_bcb_fields():
    payload = pix()
    assert field(payload, "01") == "12"
    assert subfields(payload, "26") == {"00": "br.gov.bcb.pix", "01": "fulano@example.com"}
    assert (field(payload, "53"), field(payload, "54"), field(payload, "58")) == (
        "986",
        "19.90",
        "BR",
    )
    assert subfields(payload, "62") == {"05": "PED123"}


def test_pix_without_txid_writes_three_asterisks():
    assert subfields(pix(reference=""), "62") == {"05": "***"}


def test_static_payload_without_amount_says_11():
    payload = pix(amount_minor=None)
    assert field(payload, "01") == "11"
    assert "54" not in dict(verified_fields(payload))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reference": "PED-123"}, "txid"),
        ({"reference": "A" * 26}, "at most 25"),
        ({"merchant_id": "not a key"}, "PIX key"),
        ({"merchant_id": "12345678900"}, "PIX key"),  # CPF with a wrong check digit
        ({"currency": "EUR"}, "BRL only"),
        ({"country": "PT"}, "country must be BR"),
        ({"merchant_name": "N" * 26}, "name"),
        ({"merchant_city": "C" * 16}, "city"),
        ({"merchant_name": "  "}, "name"),
        ({"amount_minor": 0}, "positive"),
        ({"amount_minor": -100}, "positive"),
        ({"amount_minor": 10**13}, "13 characters"),
        ({"mcc": "52"}, "merchant category code"),
        ({"point_of_initiation": "13"}, "point of initiation"),
        ({"point_of_initiation": "12", "amount_minor": None}, "needs an amount"),
        ({"location": "pix.example.com/x"}, "key or a location"),
        ({"expiry_date": "20300101"}, "PayNow field"),
    ],
)
def test_pix_refuses_bad_input(overrides, message):
    with pytest.raises(ValueError, match=message):
        pix(**overrides)


def paynow(**overrides) -> str:
    arguments = {
        "profile": "paynow",
        "merchant_id": "201403121W",
        "merchant_name": "ACME Pte Ltd",
        "merchant_city": "Singapore",
        "currency": "SGD",
        "amount_minor": 199,
        "reference": "INV10001",
    } | overrides
    return build_merchant_qr(**arguments)


def test_paynow_payload_has_uen_proxy_and_fixed_amount():
    payload = paynow()
    assert subfields(payload, "26") == {
        "00": "SG.PAYNOW",
        "01": "2",
        "02": "201403121W",
        "03": "0",
    }
    assert (field(payload, "53"), field(payload, "54"), field(payload, "58")) == (
        "702",
        "1.99",
        "SG",
    )
    assert subfields(payload, "62") == {"01": "INV10001"}


def test_paynow_without_amount_lets_the_payer_edit_it():
    assert subfields(paynow(amount_minor=None), "26")["03"] == "1"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"merchant_id": "201403121X"}, "UEN"),
        ({"merchant_id": "+6591234567"}, "UEN"),
        ({"currency": "MYR"}, "SGD only"),
        ({"expiry_date": "2030-01-01"}, "YYYYMMDD"),
    ],
)
def test_paynow_refuses_bad_input(overrides, message):
    with pytest.raises(ValueError, match=message):
        paynow(**overrides)


def test_paynow_mobile_proxy_is_refused_on_parse():
    account = encode_tlv([("00", "SG.PAYNOW"), ("01", "0"), ("02", "+6591234567"), ("03", "1")])
    fields = [(tag, account if tag == "26" else value) for tag, value in verified_fields(paynow())]
    payload = emvco.with_crc(encode_tlv(fields))
    with pytest.raises(ValueError, match="proxy type"):
        parse_merchant_qr(payload)


def promptpay(**overrides) -> str:
    arguments = {
        "profile": "promptpay",
        "merchant_id": "0812345678",
        "merchant_name": "Somchai Shop",
        "merchant_city": "Bangkok",
        "currency": "THB",
        "amount_minor": 10000,
    } | overrides
    return build_merchant_qr(**arguments)


def test_promptpay_mobile_is_0066_and_the_number_without_its_zero():
    payload = promptpay()
    assert subfields(payload, "29") == {"00": "A000000677010111", "01": "0066812345678"}
    assert len(subfields(payload, "29")["01"]) == 13
    assert (field(payload, "53"), field(payload, "54"), field(payload, "58")) == (
        "764",
        "100.00",
        "TH",
    )


def test_promptpay_national_id_goes_in_02():
    payload = promptpay(merchant_id="3100600445635")
    assert subfields(payload, "29") == {"00": "A000000677010111", "02": "3100600445635"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"merchant_id": "812345678"}, "PromptPay id"),
        ({"merchant_id": "1234567890123"}, "PromptPay id"),  # bad check digit
        ({"currency": "USD"}, "THB only"),
    ],
)
def test_promptpay_refuses_bad_input(overrides, message):
    with pytest.raises(ValueError, match=message):
        promptpay(**overrides)


def test_generic_profile_uses_the_default_gui_and_any_currency_exponent():
    payload = build_merchant_qr(
        profile="emvco",
        merchant_id="ACCT-42",
        merchant_name="Tokyo Ramen",
        merchant_city="Tokyo",
        currency="JPY",
        country="JP",
        amount_minor=1050,
    )
    assert subfields(payload, "26") == {"00": "com.qrpayments", "01": "ACCT-42"}
    assert (field(payload, "53"), field(payload, "54")) == ("392", "1050")
    kwd = build_merchant_qr(
        profile="emvco",
        merchant_id="ACCT-42",
        merchant_name="Souq",
        merchant_city="Kuwait City",
        currency="KWD",
        country="KW",
        amount_minor=1050,
        gui="com.example.pay",
    )
    assert (field(kwd, "53"), field(kwd, "54")) == ("414", "1.050")
    assert subfields(kwd, "26")["00"] == "com.example.pay"


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.34", "BRL", 1234), ("12", "BRL", 1200), ("12.3", "BRL", 1230), ("1.050", "KWD", 1050)],
)
def test_amounts_parse_to_minor_units(text, currency, minor):
    assert emvco.parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"), [("1.5", "JPY"), ("1.234", "BRL"), ("0.00", "BRL"), ("-1", "BRL")]
)
def test_amounts_with_too_many_decimals_or_not_positive_are_refused(text, currency):
    with pytest.raises(ValueError):
        emvco.parse_amount(text, currency)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"currency": "XXX"}, "not one this platform supports"),
        ({"country": "jp"}, "alpha-2"),
        ({"gui": "bad gui!"}, "GUI"),
        ({"merchant_id": "x" * 80}, "does not fit"),
        ({"profile": "swish"}, "unknown EMVCo profile"),
    ],
)
def test_generic_profile_refuses_bad_input(overrides, message):
    arguments = {
        "profile": "emvco",
        "merchant_id": "ACCT-42",
        "merchant_name": "Shop",
        "merchant_city": "City",
        "currency": "USD",
        "country": "US",
    } | overrides
    with pytest.raises(ValueError, match=message):
        build_merchant_qr(**arguments)


# --- round trips ------------------------------------------------------------------------------

PRINTABLE = st.characters(
    categories=("L", "N", "P", "S"), exclude_characters="\x7f", max_codepoint=0x2FFF
) | st.just(" ")


def printable(max_size: int) -> st.SearchStrategy[str]:
    return st.text(PRINTABLE, min_size=1, max_size=max_size).filter(str.strip)


ALNUM = string.ascii_letters + string.digits
amounts = st.none() | st.integers(min_value=1, max_value=10**11)
references = st.text(ALNUM, max_size=25)
cnpjs = st.from_regex(r"[1-9][0-9]{11}", fullmatch=True).map(
    lambda d: d + cnpj.calc_check_digits(d)
)
pix_keys = st.one_of(
    st.uuids().map(str),
    st.from_regex(r"[a-z0-9._]{1,20}@[a-z]{2,10}\.(com|br|org)", fullmatch=True),
    st.from_regex(r"\+55[0-9]{10,11}", fullmatch=True),
    cnpjs,
    st.sampled_from(["11144477735", "52998224725"]),  # CPFs with valid check digits
)
uens = st.from_regex(r"(199[0-9]|20[01][0-9]|202[0-4])[0-9]{5}", fullmatch=True).map(
    lambda d: d + uen.calc_local_company_check_digit(d)
)
thai_ids = st.from_regex(r"[1-8][0-9]{11}", fullmatch=True).map(
    lambda d: d + pin.calc_check_digit(d)
)
thai_ids_or_mobiles = thai_ids | st.from_regex(r"0[689][0-9]{8}", fullmatch=True)


@given(
    key=pix_keys,
    name=printable(25),
    city=printable(15),
    amount=amounts,
    txid=references,
    mcc=st.from_regex(r"[0-9]{4}", fullmatch=True),
)
def test_pix_round_trip(key, name, city, amount, txid, mcc):
    payload = build_merchant_qr(
        profile="pix",
        merchant_id=key,
        merchant_name=name,
        merchant_city=city,
        currency="BRL",
        amount_minor=amount,
        reference=txid,
        mcc=mcc,
    )
    assert parse_merchant_qr(payload) == MerchantQR(
        profile="pix",
        merchant_id=key,
        merchant_name=name,
        merchant_city=city,
        currency="BRL",
        amount_minor=amount,
        reference=txid,
        mcc=mcc,
        country="BR",
        point_of_initiation="11" if amount is None else "12",
    )


@given(
    uen_=uens,
    name=printable(25),
    city=printable(15),
    amount=amounts,
    reference=references,
    expiry=st.just("") | st.from_regex(r"20[0-9]{6}", fullmatch=True),
)
def test_paynow_round_trip(uen_, name, city, amount, reference, expiry):
    payload = build_merchant_qr(
        profile="paynow",
        merchant_id=uen_,
        merchant_name=name,
        merchant_city=city,
        currency="SGD",
        amount_minor=amount,
        reference=reference,
        expiry_date=expiry,
    )
    qr = parse_merchant_qr(payload)
    assert (qr.profile, qr.merchant_id, qr.merchant_name, qr.merchant_city) == (
        "paynow",
        uen_,
        name,
        city,
    )
    assert (qr.amount_minor, qr.reference, qr.expiry_date, qr.currency) == (
        amount,
        reference,
        expiry,
        "SGD",
    )


@given(
    proxy=thai_ids_or_mobiles,
    name=printable(25),
    city=printable(15),
    amount=amounts,
    reference=references,
)
def test_promptpay_round_trip(proxy, name, city, amount, reference):
    payload = build_merchant_qr(
        profile="promptpay",
        merchant_id=proxy,
        merchant_name=name,
        merchant_city=city,
        currency="THB",
        amount_minor=amount,
        reference=reference,
    )
    qr = parse_merchant_qr(payload)
    assert (qr.profile, qr.merchant_id, qr.amount_minor, qr.reference) == (
        "promptpay",
        proxy,
        amount,
        reference,
    )
    assert (qr.merchant_name, qr.merchant_city, qr.country) == (name, city, "TH")


@given(
    account=printable(40),
    gui=st.from_regex(r"[a-z]{2,8}\.[a-z]{2,10}(\.[a-z]{2,8})?", fullmatch=True),
    currency=st.sampled_from(sorted(emvco.NUMERIC_CURRENCY)),
    country=st.from_regex(r"[A-Z]{2}", fullmatch=True),
    name=printable(25),
    city=printable(15),
    amount=st.none() | st.integers(min_value=1, max_value=10**9),
    reference=printable(25),
    terminal=st.just("") | printable(25),
)
def test_generic_round_trip(
    account, gui, currency, country, name, city, amount, reference, terminal
):
    qr = MerchantQR(
        profile="emvco",
        merchant_id=account,
        merchant_name=name,
        merchant_city=city,
        currency=currency,
        amount_minor=amount,
        reference=reference,
        country=country,
        point_of_initiation="11" if amount is None else "12",
        gui=gui,
        terminal_label=terminal,
    )
    assert parse_merchant_qr(encode_merchant_qr(qr)) == qr


@given(fields=st.lists(st.tuples(st.from_regex(r"[0-9]{2}", fullmatch=True), printable(99))))
def test_tlv_round_trip(fields):
    assert decode_tlv(encode_tlv(fields)) == fields


# --- the facade --------------------------------------------------------------------------------


def test_scheme_payload_builds_a_pix_code_with_the_reference_as_txid():
    payload = scheme_payload(
        scheme="pix",
        account=SchemeAccount(
            merchant_id=UUID_KEY, merchant_name="Fulano de Tal", merchant_city="BRASILIA"
        ),
        amount_minor=1050,
        currency="brl",
        reference="QR-7K2M9",
    )
    qr = parse_merchant_qr(payload)
    assert (qr.profile, qr.amount_minor, qr.reference) == ("pix", 1050, "QR7K2M9")


@pytest.mark.parametrize(
    ("scheme", "merchant_id", "currency", "profile_id"),
    [
        ("paynow", "201403121W", "SGD", "201403121W"),
        ("promptpay", "0812345678", "THB", "0812345678"),
        ("emvco", "ACCT-1", "EUR", "ACCT-1"),
    ],
)
def test_scheme_payload_builds_each_emvco_scheme(scheme, merchant_id, currency, profile_id):
    payload = scheme_payload(
        scheme=scheme,
        account=SchemeAccount(merchant_id=merchant_id, merchant_name="Shop", merchant_city="City"),
        amount_minor=2500,
        currency=currency,
        reference="ORDER42",
    )
    qr = parse_merchant_qr(payload)
    assert (qr.profile, qr.merchant_id, qr.amount_minor, qr.currency, qr.reference) == (
        scheme,
        profile_id,
        2500,
        currency,
        "ORDER42",
    )


def test_scheme_payload_takes_the_generic_country_from_the_currency_or_the_account():
    account = SchemeAccount(merchant_id="A1", merchant_name="Shop", merchant_city="City")
    usd = scheme_payload(
        scheme="emvco", account=account, amount_minor=1, currency="USD", reference=""
    )
    assert parse_merchant_qr(usd).country == "US"
    pinned = SchemeAccount(
        merchant_id="A1", merchant_name="Shop", merchant_city="City", country="SN"
    )
    xof = scheme_payload(
        scheme="emvco", account=pinned, amount_minor=1, currency="XOF", reference=""
    )
    assert parse_merchant_qr(xof).country == "SN"
    with pytest.raises(ValueError, match="country"):
        scheme_payload(
            scheme="emvco", account=account, amount_minor=1, currency="XOF", reference=""
        )


@pytest.mark.parametrize(
    ("scheme", "currency"),
    [("pix", "EUR"), ("paynow", "USD"), ("promptpay", "SGD"), ("upi", "BRL")],
)
def test_scheme_currency_mismatch_names_currency_and_scheme(scheme, currency):
    account = SchemeAccount(merchant_id="x", merchant_name="Shop", merchant_city="City")
    with pytest.raises(ValueError, match=f"currency {currency} is not accepted by scheme {scheme}"):
        scheme_payload(
            scheme=scheme, account=account, amount_minor=100, currency=currency, reference="R1"
        )


def test_scheme_payload_refuses_unknown_scheme_and_non_positive_amount():
    account = SchemeAccount(merchant_id=UUID_KEY, merchant_name="Shop", merchant_city="City")
    with pytest.raises(ValueError, match="unknown QR scheme"):
        scheme_payload(
            scheme="swish", account=account, amount_minor=1, currency="SEK", reference=""
        )
    with pytest.raises(ValueError, match="positive"):
        scheme_payload(scheme="pix", account=account, amount_minor=0, currency="BRL", reference="")
