"""Provider settlement report files: Stripe's itemized payout reconciliation report and Adyen's
Settlement details report, parsed from sample files written from the providers' published column
definitions (tests/routing/fixtures/settlement/), and the Stripe and Adyen adapters fetching them.

No database: parsers and adapters only.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest

from payments.currencies import EXPONENTS
from routing.adapters import SettlementReportError
from routing.adapters.adyen import AdyenAdapter
from routing.adapters.reports import exponent, parse_adyen_report, parse_stripe_report, to_minor
from routing.adapters.stripe import SETTLEMENT_REPORT_TYPE, StripeAdapter
from routing.interface import SettlementLine
from tests.routing.replay import ReplayServer

SAMPLES = Path(__file__).parent / "fixtures" / "settlement"
STRIPE_SAMPLE = SAMPLES / "stripe_payout_reconciliation_itemized_2026-11-26.csv"
ADYEN_SAMPLE = SAMPLES / "adyen_settlement_detail_report_batch_7.csv"
EUR_PAYOUT = "po_1QEurPayout26Nov0001"
DAY_START = 1795651200  # 2026-11-26T00:00:00Z
RUNS = "/v1/reporting/report_runs"
FILE = "/v1/files/file_1QReport/contents"


def summary(lines: tuple[SettlementLine, ...]) -> list[tuple]:
    return [
        (line.type, line.reference, line.gross_minor, line.fee_minor, line.net_minor)
        for line in lines
    ]


# -- amounts -----------------------------------------------------------------------------------


def test_exponents_agree_with_the_currencies_payments_accepts():
    assert {code: exponent(code) for code in EXPONENTS} == EXPONENTS


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("20.00", "EUR", 2000), ("-5.5", "eur", -550), ("1500", "JPY", 1500),
     ("1.234", "KWD", 1234), ("1,000.00", "USD", 100000), ("", "EUR", 0)],
)  # fmt: skip
def test_major_unit_amounts_become_minor_units_by_the_currency_exponent(amount, currency, minor):
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [("20.001", "EUR"), ("1.5", "JPY"), ("x", "EUR")])
def test_amounts_with_more_decimals_than_the_currency_or_no_number_are_refused(amount, currency):
    with pytest.raises(ValueError):
        to_minor(amount, currency)


# -- Stripe ------------------------------------------------------------------------------------


def test_stripe_report_lines_map_categories_references_and_minor_units():
    lines = parse_stripe_report(STRIPE_SAMPLE.read_bytes(), STRIPE_SAMPLE.name)

    assert summary(lines) == [
        ("capture", "att_stripe1", 2000, 55, 1945),
        ("capture", "att_stripe2", 1000, 59, 941),
        ("refund", "re_ourrefund1", -500, 0, -500),
        ("chargeback", "att_stripe2", -1000, 1500, -2500),
        ("chargeback_reversal", "att_stripe2", 1000, 0, 1000),
        ("fee", "", 0, 200, -200),  # Radar's fee: its amount is the fee
        ("capture", "att_stripe3", 1500, 74, 1426),  # JPY has no minor unit
        ("payout", "", -686, 0, -686),  # minus the sum of the EUR payout's nets
        ("payout", "", -1426, 0, -1426),
    ]
    capture, _, refund, chargeback, *_, jpy, eur_payout, jpy_payout = lines
    assert capture.provider_reference == "pi_3QIntentEur0000000001"  # our attempt's reference
    assert refund.provider_reference == "re_3QRefundEur0000000001"
    assert chargeback.provider_reference == "du_1QDisputeEur000000001"
    assert (jpy.currency, capture.currency) == ("JPY", "EUR")
    assert (capture.date, refund.date) == ("2026-11-24", "2026-11-25")  # when Stripe booked them
    assert {line.payout_reference for line in lines[:6]} == {EUR_PAYOUT}
    assert (eur_payout.provider_reference, eur_payout.payout_reference) == (EUR_PAYOUT, EUR_PAYOUT)
    assert (eur_payout.date, eur_payout.currency) == ("2026-11-26", "EUR")
    assert jpy_payout.payout_reference == jpy.payout_reference == "po_1QJpyPayout26Nov0001"


def test_a_stripe_payout_row_in_the_report_is_taken_as_reported():
    raw = (
        b"balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,source_id\n"
        b"txn_1,2026-11-26 03:00:00,usd,-12.34,0.00,-12.34,payout,po_1Manual\n"
    )

    [payout] = parse_stripe_report(raw, "balance.csv")

    assert (payout.type, payout.net_minor, payout.payout_reference) == (
        "payout",
        -1234,
        "po_1Manual",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "missing column"),
        (b"balance_transaction_id,created_utc,currency,gross\ntxn_1,2026-11-26,eur,1.00\n",
         "missing column"),
        (STRIPE_SAMPLE.read_bytes().replace(b",charge,", b",topup,", 1), "line 2: unknown"),
        (STRIPE_SAMPLE.read_bytes().replace(b",19.45,", b",19.44,", 1), "line 2: net"),
        (STRIPE_SAMPLE.read_bytes().replace(b"0.55", b"0.555", 1), "line 2: '0.555'"),
        (STRIPE_SAMPLE.read_bytes().replace(b"2026-11-24 09:12:03", b"yesterday", 1), "line 2"),
        ("\N{EURO SIGN}".encode("cp1252") * 3, "not UTF-8"),
    ],
)  # fmt: skip
def test_a_malformed_stripe_report_raises(raw, message):
    with pytest.raises(SettlementReportError, match=message):
        parse_stripe_report(raw, "report.csv")


# -- Adyen -------------------------------------------------------------------------------------


def test_adyen_report_lines_map_journal_types_references_and_minor_units():
    lines = parse_adyen_report(ADYEN_SAMPLE.read_bytes(), ADYEN_SAMPLE.name)

    assert summary(lines) == [
        ("capture", "att_adyen1", 10000, 150, 9850),  # markup + scheme fees + interchange
        ("refund", "re_ourrefund2", -2500, 0, -2500),
        ("chargeback", "att_adyen2", -5000, 200, -5200),
        ("chargeback_reversal", "att_adyen2", 5000, 0, 5000),
        ("capture", "att_adyen3", 930, 20, 910),  # JPY 1500 settled in EUR
        ("fee", "", 0, 80, -80),
        ("payout", "", -7980, 0, -7980),
    ]
    capture, refund, chargeback, _, converted, fee, payout = lines
    assert capture.provider_reference == "8816178952380553"  # the payment's pspReference
    assert refund.provider_reference == "8836178952400002"  # the refund's
    assert chargeback.provider_reference == "8846178952410003"
    assert converted.currency == "EUR"
    assert fee.provider_reference == "Transaction Fees November 2026"
    assert payout.provider_reference == "TX4711XT batch 7, QRPaymentsEUR"  # the transfer's text
    assert {line.payout_reference for line in lines} == {"TX4711XT"}  # the batch's transfer
    assert sum(line.net_minor for line in lines) == 0  # the batch is paid out in full
    assert (capture.date, payout.date) == ("2026-11-25", "2026-11-26")


def test_an_adyen_batch_without_its_payout_line_is_named_by_its_batch_number():
    without_payout = b"\n".join(
        row for row in ADYEN_SAMPLE.read_bytes().splitlines() if b"MerchantPayout" not in row
    )
    lines = parse_adyen_report(without_payout, "batch_7.csv")
    assert {line.payout_reference for line in lines} == {"batch 7"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"Company Account,Merchant Account,Psp Reference\n", "missing column"),
        (ADYEN_SAMPLE.read_bytes().replace(b",Settled,", b",Unheard,", 1), "line 2: unknown"),
        (ADYEN_SAMPLE.read_bytes().replace(b",98.50,", b",98.5x,", 1), "line 2"),
    ],
)
def test_a_malformed_adyen_report_raises(raw, message):
    with pytest.raises(SettlementReportError, match=message):
        parse_adyen_report(raw, "report.csv")


# -- Stripe fetch: the Reporting API -----------------------------------------------------------


@pytest.fixture
def server():
    replay = ReplayServer()
    yield replay
    replay.close()


@pytest.fixture
def stripe_adapter(server) -> StripeAdapter:
    return StripeAdapter("stripe", api_key="sk_test_fixture", timeout_s=2.0, api_base=server.url)


def report_run(status: str, file_url: str = "") -> dict:
    """A report run as docs.stripe.com/api/reporting/report_run/object shows it."""
    result = None
    if file_url:
        result = {"id": "file_1QReport", "object": "file", "type": "csv", "url": file_url}
    return {
        "id": "frr_1QRun26Nov",
        "object": "reporting.report_run",
        "livemode": False,
        "report_type": SETTLEMENT_REPORT_TYPE,
        "parameters": {"interval_start": DAY_START, "interval_end": DAY_START + 86_400},
        "status": status,
        "result": result,
    }


def exchange(method: str, path: str, status: int = 200, **response) -> dict:
    """What the replay server expects and answers: a JSON `body` or a file's `text`."""
    return {"request": {"method": method, "path": path}, "response": {"status": status, **response}}


def listing(*runs: dict) -> dict:
    runs_page = {"object": "list", "has_more": False, "url": RUNS, "data": list(runs)}
    return exchange("GET", RUNS, body=runs_page)


def test_stripe_asks_for_the_days_report_run_when_there_is_none(stripe_adapter, server):
    server.expect(listing())
    server.expect(exchange("POST", RUNS, body=report_run("pending")))

    with pytest.raises(SettlementReportError, match="requested"):
        stripe_adapter.settlement_report(date="2026-11-26")

    form = parse_qs(server.received[1].body.decode())
    assert form["report_type"] == [SETTLEMENT_REPORT_TYPE]
    assert form["parameters[interval_start]"] == [str(DAY_START)]
    assert form["parameters[interval_end]"] == [str(DAY_START + 86_400)]
    columns = [v for k, [v] in form.items() if k.startswith("parameters[columns]")]
    assert {"payment_metadata[reference]", "refund_metadata[reference]"} <= set(columns)
    assert server.received[1].headers["idempotency-key"] == "settlement-report:2026-11-26"


def test_stripe_report_not_ready_yet_raises_without_asking_again(stripe_adapter, server):
    server.expect(listing(report_run("pending")))

    with pytest.raises(SettlementReportError, match="pending"):
        stripe_adapter.settlement_report(date="2026-11-26")
    assert len(server.received) == 1


def test_stripe_downloads_the_succeeded_report_file_and_keeps_it_as_received(
    stripe_adapter, server
):
    sample = STRIPE_SAMPLE.read_text()
    server.expect(listing(report_run("succeeded", server.url + FILE)))
    server.expect(exchange("GET", FILE, text=sample))

    report = stripe_adapter.settlement_report(date="2026-11-26")

    assert (report.provider, report.date) == ("stripe", "2026-11-26")
    assert report.filename == "frr_1QRun26Nov.csv"
    assert report.raw == sample.encode()
    assert report.lines == parse_stripe_report(sample.encode(), "any.csv")
    assert server.received[1].headers["authorization"] == "Bearer sk_test_fixture"


def test_stripe_report_file_that_cannot_be_downloaded_raises(stripe_adapter, server):
    server.expect(listing(report_run("succeeded", server.url + FILE)))
    server.expect(exchange("GET", FILE, 404, body={"error": {"type": "invalid_request_error"}}))

    with pytest.raises(SettlementReportError, match="HTTP 404"):
        stripe_adapter.settlement_report(date="2026-11-26")


def test_stripe_unreachable_raises(stripe_adapter, server):
    server.expect(exchange("GET", RUNS, 500, body={"error": {"type": "api_error"}}))

    with pytest.raises(SettlementReportError, match="APIError"):
        stripe_adapter.settlement_report(date="2026-11-26")


# -- Adyen fetch: a configured URL, else upload ------------------------------------------------


def adyen(**settings) -> AdyenAdapter:
    return AdyenAdapter("adyen", api_key="AQE_test", merchant_account="QRPaymentsEUR", **settings)


def test_adyen_without_a_report_url_says_to_upload_the_report():
    with pytest.raises(SettlementReportError, match="upload"):
        adyen().settlement_report(date="2026-11-26")


def test_adyen_downloads_the_days_report_from_the_configured_url(server):
    sample = ADYEN_SAMPLE.read_text()
    folder = "/reports/download/MerchantAccount"
    server.expect(exchange("GET", f"{folder}/QRPaymentsEUR/settlement_2026-11-26.csv", text=sample))
    template = f"{server.url}{folder}/{{merchant_account}}/settlement_{{date}}.csv"

    report = adyen(settlement_report_url=template, report_api_key="AQE_report").settlement_report(
        date="2026-11-26"
    )

    assert report.filename == "settlement_2026-11-26.csv"
    assert report.raw == sample.encode()
    assert len(report.lines) == 7
    assert server.received[0].headers["x-api-key"] == "AQE_report"


def test_adyen_report_not_there_yet_raises(server):
    server.expect(exchange("GET", "/r/2026-11-26.csv", 404, body={}))

    with pytest.raises(SettlementReportError, match="HTTP 404"):
        adyen(settlement_report_url=f"{server.url}/r/{{date}}.csv").settlement_report(
            date="2026-11-26"
        )


def test_parsing_an_uploaded_report_twice_gives_the_same_lines():
    raw = ADYEN_SAMPLE.read_bytes()
    first = adyen().parse_settlement_report(raw=raw, filename="batch_7.csv", date="2026-11-26")
    again = adyen().parse_settlement_report(raw=raw, filename="batch_7.csv", date="2026-11-26")
    assert first == again and first.raw == raw and first.lines
