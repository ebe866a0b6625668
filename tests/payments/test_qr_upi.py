"""UPI upi://pay links: the NPCI linking-specification example parsed, percent-encoding, the
facade, round trips, and bad links refused."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.qr.schemes import SchemeAccount, scheme_payload
from payments.qr.upi import UpiPayment, build_upi, is_vpa, parse_upi

# NPCI "UPI Linking Specifications" 1.6, implementation sample (hyperlink / QR code). It carries
# parameters this platform does not use (tid, mam, url): the parser reads past them.
NPCI_EXAMPLE = (
    "upi://pay?pa=nadeem@npci&pn=nadeem%20chinna&mc=0000&tid=cxnkjcnkjdfdvjndkjfvn"
    "&tr=4894398cndhcd23&tn=Pay%20to%20mystar%20store&am=10&mam=null&cu=INR"
    "&url=https://mystar.com/orderid=9298yw89e8973e87389e78923ue892"
)


def test_npci_example_parses_to_its_fields():
    assert parse_upi(NPCI_EXAMPLE) == UpiPayment(
        vpa="nadeem@npci",
        payee_name="nadeem chinna",
        amount_minor=1000,
        reference="4894398cndhcd23",
        note="Pay to mystar store",
        mcc="0000",
    )


def test_link_is_built_in_the_documented_form():
    link = build_upi(
        vpa="shop@okaxis",
        payee_name="Chai & Co",
        amount_minor=1234,
        reference="ORD-1",
        note="2 cups+snack",
    )
    assert link == (
        "upi://pay?pa=shop@okaxis&pn=Chai%20%26%20Co&am=12.34&cu=INR&tr=ORD-1&tn=2%20cups%2Bsnack"
    )


def test_link_without_amount_leaves_it_to_the_payer():
    link = build_upi(vpa="shop@okaxis", payee_name="Shop")
    assert link == "upi://pay?pa=shop@okaxis&pn=Shop&cu=INR"
    assert parse_upi(link).amount_minor is None


def test_plus_in_a_form_encoded_link_reads_as_a_space():
    assert parse_upi("upi://pay?pa=a.b@upi&pn=Ravi+Kumar&am=5.5").payee_name == "Ravi Kumar"
    assert parse_upi("upi://pay?pa=a.b@upi&pn=Ravi+Kumar&am=5.5").amount_minor == 550


@pytest.mark.parametrize(
    "vpa", ["name@bank", "first.last@okhdfcbank", "9876543210@ybl", "a_b-c@paytm"]
)
def test_vpa_form_is_name_at_handle(vpa):
    assert is_vpa(vpa)


@pytest.mark.parametrize(
    "vpa", ["", "namebank", "@bank", "name@", "name@@bank", "na me@bank", "name@ba nk", "n@1bank"]
)
def test_malformed_vpa_is_refused(vpa):
    assert not is_vpa(vpa)
    with pytest.raises(ValueError, match="name@handle"):
        build_upi(vpa=vpa, payee_name="Shop")


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("https://pay?pa=a@b&pn=X", "upi://pay"),
        ("upi://collect?pa=ab@bank&pn=X", "upi://pay"),
        ("upi://pay?pn=Shop", "lacks pa"),
        ("upi://pay?pa=ab@bank", "lacks pn"),
        ("upi://pay?pa=ab@bank&pn=", "lacks pn"),
        ("upi://pay?pa=ab@bank&pn=X&cu=USD", "currency must be INR"),
        ("upi://pay?pa=ab@bank&pn=X&am=1.234", "two decimals"),
        ("upi://pay?pa=ab@bank&pn=X&am=-1", "two decimals"),
        ("upi://pay?pa=ab@bank&pn=X&am=0", "positive"),
        ("upi://pay?pa=ab@bank&pn=X&am=١٠", "two decimals"),  # Arabic-Indic digits
        ("upi://pay?pa=ab@bank&pn=X&pn=Y", "repeats"),
        ("upi://pay?pa=ab@bank&pn=X&garbage", "key=value"),
        ("upi://pay?pa=ab@bank&pn=%FF", "key=value"),  # not UTF-8
        ("upi://pay?pa=ab@bank&pn=X#frag", "fragment"),
        ("upi://pay?pa=ab@bank&pn=X&tr=" + "R" * 36, "reference"),
        ("upi://pay?pa=ab@bank&pn=X&mc=12", "merchant code"),
    ],
)
def test_bad_links_are_refused(link, message):
    with pytest.raises(ValueError, match=message):
        parse_upi(link)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"payee_name": " "}, "payee name"),
        ({"payee_name": "N" * 100}, "payee name"),
        ({"note": "n" * 81}, "note"),
        ({"note": "line\nbreak"}, "printable"),
        ({"amount_minor": 0}, "positive"),
        ({"amount_minor": 10**11}, "positive"),
    ],
)
def test_bad_fields_are_refused_when_building(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_upi(**({"vpa": "shop@upi", "payee_name": "Shop"} | overrides))


def test_scheme_payload_builds_a_upi_link_with_the_reference():
    link = scheme_payload(
        scheme="upi",
        account=SchemeAccount(
            merchant_id="store@icici", merchant_name="Mumbai Store", merchant_city="Mumbai"
        ),
        amount_minor=49900,
        currency="INR",
        reference="QR7K2M9",
    )
    assert parse_upi(link) == UpiPayment(
        vpa="store@icici", payee_name="Mumbai Store", amount_minor=49900, reference="QR7K2M9"
    )


TEXT = st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\x7f\xa0")


def text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(TEXT, min_size=min_size, max_size=max_size).filter(
        lambda value: value.isprintable() and (min_size == 0 or value.strip())
    )


vpas = st.from_regex(r"[a-z0-9][a-z0-9._\-]{1,30}@[a-z][a-z0-9]{1,15}", fullmatch=True)


@given(
    vpa=vpas,
    name=text(1, 99),
    amount=st.none() | st.integers(min_value=1, max_value=99_999_999_999),
    reference=text(0, 35),
    note=text(0, 80),
    mcc=st.just("") | st.from_regex(r"[0-9]{4}", fullmatch=True),
)
def test_round_trip(vpa, name, amount, reference, note, mcc):
    link = build_upi(
        vpa=vpa, payee_name=name, amount_minor=amount, reference=reference, note=note, mcc=mcc
    )
    assert set(link) <= set(string.ascii_letters + string.digits + ":/?&=%@._-~")
    assert parse_upi(link) == UpiPayment(
        vpa=vpa, payee_name=name, amount_minor=amount, reference=reference, note=note, mcc=mcc
    )
