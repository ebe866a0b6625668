"""EPC069-12 SEPA credit-transfer payloads: the EPC example byte for byte, every field checked,
the facade, round trips, and bad input refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from schwifty import IBAN

from payments.qr.epc import EpcTransfer, build_epc, parse_epc
from payments.qr.schemes import epc_payload

# The EPC's example (EPC069-12 guideline; Belgian Red Cross, EUR 1, purpose CHAR, unstructured
# text), in the version 002 form, and the version 001 form with the information line.
EPC_EXAMPLE = (
    "BCD\n002\n1\nSCT\nBPOTBEB1\nRed Cross of Belgium\nBE72000000001616\nEUR1\nCHAR\n\nUrgency fund"
)
EPC_EXAMPLE_V1 = (
    "BCD\n001\n1\nSCT\nBPOTBEB1\nRed Cross of Belgium\nBE72000000001616\nEUR1\nCHAR\n\n"
    "Urgency fund\nSample EPC QR code"
)
RED_CROSS = EpcTransfer(
    name="Red Cross of Belgium",
    iban="BE72000000001616",
    amount_minor=100,
    bic="BPOTBEB1",
    purpose="CHAR",
    text="Urgency fund",
)


def test_epc_example_is_reproduced_byte_for_byte():
    payload = build_epc(
        bic="BPOTBEB1",
        name="Red Cross of Belgium",
        iban="BE72000000001616",
        amount_minor=100,
        purpose="CHAR",
        text="Urgency fund",
    )
    assert payload == EPC_EXAMPLE


def test_epc_example_parses_to_its_fields():
    assert parse_epc(EPC_EXAMPLE) == RED_CROSS


def test_version_001_example_with_information_line_round_trips():
    transfer = parse_epc(EPC_EXAMPLE_V1)
    assert (transfer.version, transfer.information) == ("001", "Sample EPC QR code")
    assert build_epc(**vars(transfer)) == EPC_EXAMPLE_V1


def test_crlf_line_ends_are_read():
    assert parse_epc(EPC_EXAMPLE.replace("\n", "\r\n")) == RED_CROSS


def test_amounts_are_euros_with_two_decimals_or_whole():
    lines = build_epc(name="N", iban="BE72000000001616", amount_minor=12345).split("\n")
    assert lines[7] == "EUR123.45"
    assert build_epc(name="N", iban="BE72000000001616", amount_minor=1230).split("\n")[7] == (
        "EUR12.30"
    )
    assert parse_epc(EPC_EXAMPLE.replace("EUR1\n", "EUR0.5\n")).amount_minor == 50


def test_version_002_leaves_the_bic_out_and_001_requires_it():
    payload = build_epc(name="Acme GmbH", iban="DE89 3704 0044 0532 0130 00", amount_minor=999)
    assert payload == "BCD\n002\n1\nSCT\n\nAcme GmbH\nDE89370400440532013000\nEUR9.99"
    with pytest.raises(ValueError, match="version 001 needs the BIC"):
        build_epc(name="Acme GmbH", iban="DE89370400440532013000", version="001")


def test_rf_creditor_reference_is_structured_and_compacted():
    payload = build_epc(name="N", iban="BE72000000001616", reference="RF18 5390 0754 7034")
    assert payload.split("\n")[9:] == ["RF18539007547034"]
    assert parse_epc(payload).reference == "RF18539007547034"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iban": "BE72000000001617"}, "IBAN"),
        ({"iban": "XX00"}, "IBAN"),
        ({"bic": "NOTABIC"}, "BIC"),
        ({"name": ""}, "name"),
        ({"name": "N" * 71}, "name"),
        ({"name": "two\nlines"}, "printable"),
        ({"amount_minor": 0}, "EUR0.01"),
        ({"amount_minor": 100_000_000_000}, "EUR999999999.99"),
        ({"purpose": "charity"}, "purpose"),
        ({"reference": "RF19539007547034"}, "ISO 11649"),
        ({"reference": "R" * 36}, "at most 35"),
        ({"reference": "RF18539007547034", "text": "also text"}, "not both"),
        ({"text": "t" * 141}, "at most 140"),
        ({"information": "i" * 71}, "at most 70"),
        ({"version": "003"}, "version"),
    ],
)
def test_bad_fields_are_refused(overrides, message):
    arguments = {"name": "Red Cross", "iban": "BE72000000001616", "bic": "BPOTBEB1"} | overrides
    with pytest.raises(ValueError, match=message):
        build_epc(**arguments)


def test_payload_over_331_bytes_is_refused():
    with pytest.raises(ValueError, match="331"):
        build_epc(
            name="N" * 70,
            iban="BE72000000001616",
            bic="BPOTBEB1XXX",
            amount_minor=99_999_999_999,
            purpose="CHAR",
            text="é" * 140,  # two UTF-8 bytes each
            information="I" * 70,
        )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (EPC_EXAMPLE.replace("BCD", "BCX"), "service tag"),
        (EPC_EXAMPLE.replace("\n002\n", "\n003\n"), "version"),
        (EPC_EXAMPLE.replace("\n1\nSCT", "\n9\nSCT"), "character set"),
        (EPC_EXAMPLE.replace("SCT", "INST"), "identification"),
        (EPC_EXAMPLE.replace("EUR1", "USD1"), "amount"),
        (EPC_EXAMPLE.replace("EUR1", "EUR1,00"), "amount"),
        (EPC_EXAMPLE.replace("EUR1", "EUR1.234"), "amount"),
        (EPC_EXAMPLE.replace("EUR1", "EUR0"), "EUR0.01"),
        (EPC_EXAMPLE.replace("BE72000000001616", "BE72000000001617"), "IBAN"),
        (EPC_EXAMPLE.replace("\n\nUrgency", "\nRF18539007547034\nUrgency"), "not both"),
        ("BCD\n002\n1\nSCT\nBPOTBEB1\nRed Cross of Belgium", "truncated"),
        (EPC_EXAMPLE + "\ninfo\nextra line", "at most 12"),
    ],
)
def test_bad_payloads_are_refused(payload, message):
    with pytest.raises(ValueError, match=message):
        parse_epc(payload)


def test_epc_payload_facade_puts_rf_references_in_the_structured_line():
    payload = epc_payload(
        bic="GENODEF1M04",
        name="QR Payments Collections",
        iban="DE89370400440532013000",
        amount_minor=4250,
        currency="eur",
        reference="RF18539007547034",
    )
    assert parse_epc(payload) == EpcTransfer(
        name="QR Payments Collections",
        iban="DE89370400440532013000",
        amount_minor=4250,
        bic="GENODEF1M04",
        reference="RF18539007547034",
    )


def test_epc_payload_facade_puts_other_references_in_the_text_line():
    payload = epc_payload(
        bic="",
        name="QR Payments Collections",
        iban="DE89370400440532013000",
        amount_minor=4250,
        currency="EUR",
        reference="QR-7K2M9",
    )
    transfer = parse_epc(payload)
    assert (transfer.reference, transfer.text, transfer.bic) == ("", "QR-7K2M9", "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"currency": "USD"}, "currency USD is not accepted by SEPA"),
        ({"iban": "DE89370400440532013001"}, "IBAN"),
        ({"amount_minor": 0}, "positive"),
    ],
)
def test_epc_payload_facade_refuses_bad_input(overrides, message):
    arguments = {
        "bic": "",
        "name": "Collections",
        "iban": "DE89370400440532013000",
        "amount_minor": 100,
        "currency": "EUR",
        "reference": "R1",
    } | overrides
    with pytest.raises(ValueError, match=message):
        epc_payload(**arguments)


# --- round trip --------------------------------------------------------------------------------

TEXT = st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\x7f\xa0")


def text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(TEXT, min_size=min_size, max_size=max_size).filter(
        lambda value: value.isprintable() and (min_size == 0 or value.strip())
    )


BANKS = {"DE": ("37040044", 10), "NL": ("ABNA", 10), "AT": ("19043", 11)}


def _iban(country: str, number: int) -> str:
    bank_code, account_digits = BANKS[country]
    account_code = f"{number:0{account_digits}d}"
    return IBAN.generate(country, bank_code=bank_code, account_code=account_code).compact


ibans = st.builds(_iban, st.sampled_from(sorted(BANKS)), st.integers(min_value=1, max_value=10**9))


rf_references = st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=21).map(
    lambda body: _rf(body)
)


def _rf(body: str) -> str:
    digits = "".join(str(int(char, 36)) for char in body + "RF00")
    return f"RF{98 - int(digits) % 97:02d}{body}"


@given(
    name=text(1, 70),
    iban=ibans,
    amount=st.none() | st.integers(min_value=1, max_value=99_999_999_999),
    bic=st.sampled_from(["", "BPOTBEB1", "GENODEF1M04", "DEUTDEFF500"]),
    purpose=st.just("") | st.from_regex(r"[A-Z]{4}", fullmatch=True),
    remittance=st.one_of(
        st.tuples(rf_references, st.just("")),
        st.tuples(st.just(""), text(1, 100)),
        st.tuples(st.just(""), st.just("")),
    ),
    information=text(0, 40),
)
def test_round_trip(name, iban, amount, bic, purpose, remittance, information):
    reference, remittance_text = remittance
    transfer = EpcTransfer(
        name=name,
        iban=iban,
        amount_minor=amount,
        bic=bic,
        purpose=purpose,
        reference=reference,
        text=remittance_text,
        information=information,
    )
    assert parse_epc(build_epc(**vars(transfer))) == transfer
