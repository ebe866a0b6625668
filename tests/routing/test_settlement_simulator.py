"""Settlement reports from the simulator, through routing's services: a day's report after real
payments over our API (capture, refund) carries the movements and the payout they are paid out
in; the simulator's knobs delay settlement and break a report for reconciliation tests."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import InvalidRequest, NotFound
from routing.adapters import SettlementReportError
from routing.models import Attempt, AttemptKind
from routing.services import (
    fetch_settlement_report,
    parse_settlement_report,
    settlement_delay_days,
)
from tests.conftest import client_for


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def captured_on(sim) -> str:
    """The UTC day the simulator captured its first authorization (a test may cross midnight)."""
    captured_at = sim.records("sim-a")[0]["captured_at"]
    return dt.datetime.fromtimestamp(captured_at, dt.UTC).date().isoformat()


@pytest.fixture
def captured(api, merchant, providers, sim):
    """A payment of 100.00 EUR captured at sim-a, 30.00 of it refunded, over the API."""
    sim.control("sim-a", fees={"EUR": {"percent_bp": 140, "fixed_minor": 25}})
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    token = client_for(merchant.publishable).post("/api/tokens", {"card": card}, format="json")
    assert token.status_code == 201, token.content
    body = {"token": token.json()["id"], "amount": 10_000, "currency": "eur"}
    payment = api.post("/api/payments", body, format="json").json()
    assert api.post(f"/api/payments/{payment['id']}/capture", {}, format="json").status_code == 200
    refund = api.post(f"/api/payments/{payment['id']}/refund", {"amount": 3000}, format="json")
    assert refund.status_code == 200, refund.content
    attempt = Attempt.objects.get(payment_id=payment["id"], kind=AttemptKind.AUTHORIZE)
    return attempt, refund.json()["id"], captured_on(sim)


def test_the_days_report_carries_capture_refund_and_their_payout(captured):
    attempt, refund_id, day = captured

    report = fetch_settlement_report(provider="sim-a", date=day)

    capture, refund, payout = report.lines
    assert (capture.type, capture.reference, capture.provider_reference) == (
        "capture",
        attempt.id,
        attempt.provider_reference,
    )
    assert (capture.gross_minor, capture.fee_minor, capture.net_minor) == (10_000, 165, 9_835)
    assert (refund.type, refund.reference, refund.gross_minor, refund.net_minor) == (
        "refund",
        refund_id,
        -3_000,
        -3_000,
    )
    assert (payout.type, payout.gross_minor, payout.net_minor, payout.currency) == (
        "payout",
        -6_835,
        -6_835,
        "EUR",
    )
    assert payout.provider_reference.startswith("po_")
    assert {line.payout_reference for line in report.lines} == {payout.provider_reference}
    assert {line.date for line in report.lines} == {day}
    assert (report.provider, report.date) == ("sim-a", day)
    assert report.raw.startswith(b"type,reference,provider_reference,gross,fee,net,currency")


def test_fetching_or_parsing_the_same_report_twice_gives_the_same_lines(captured):
    day = captured[2]
    first = fetch_settlement_report(provider="sim-a", date=day)
    again = fetch_settlement_report(provider="sim-a", date=day)
    uploaded = parse_settlement_report(
        provider="sim-a", raw=first.raw, filename="uploaded.csv", date=day
    )
    assert first == again
    assert uploaded.lines == first.lines and uploaded.raw == first.raw


def test_a_delayed_provider_settles_the_capture_days_later(providers, sim, api, merchant):
    sim.control("sim-a", settlement_delay_days=2)
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    token = client_for(merchant.publishable).post("/api/tokens", {"card": card}, format="json")
    body = {"token": token.json()["id"], "amount": 2_000, "currency": "eur", "capture": True}
    assert api.post("/api/payments", body, format="json").json()["status"] == "captured"
    day = captured_on(sim)
    later = (dt.date.fromisoformat(day) + dt.timedelta(days=2)).isoformat()

    assert fetch_settlement_report(provider="sim-a", date=day).lines == ()
    capture, payout = fetch_settlement_report(provider="sim-a", date=later).lines
    assert (capture.type, capture.gross_minor, capture.date) == ("capture", 2_000, later)
    assert (payout.net_minor, payout.date) == (-capture.net_minor, later)


def test_injected_breaks_drop_duplicate_or_change_a_line_and_the_payout_follows(captured, sim):
    attempt, refund_id, day = captured
    sim.control("sim-a", settlement_breaks={attempt.id: "duplicate", refund_id: "drop"})
    duplicated = fetch_settlement_report(provider="sim-a", date=day).lines
    assert [(line.type, line.net_minor) for line in duplicated] == [
        ("capture", 9_835),
        ("capture", 9_835),
        ("payout", -19_670),
    ]

    sim.control("sim-a", settlement_breaks={attempt.id: -100, refund_id: None})
    changed = fetch_settlement_report(provider="sim-a", date=day).lines
    assert [(line.type, line.gross_minor, line.net_minor) for line in changed] == [
        ("capture", 9_900, 9_735),
        ("refund", -3_000, -3_000),
        ("payout", -6_735, -6_735),
    ]


def test_bad_break_and_delay_knobs_are_refused(sim):
    for knob in ({"settlement_breaks": {"att_1": "explode"}}, {"settlement_delay_days": -1}):
        response = sim.client.post("/_control/sim-a", json=knob)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_setting"


def test_an_unreachable_provider_or_a_malformed_upload_raises(providers, sim):
    sim.control("sim-a", outage=True)
    with pytest.raises(SettlementReportError):
        fetch_settlement_report(provider="sim-a", date=today())
    with pytest.raises(SettlementReportError, match="header"):
        parse_settlement_report(provider="sim-a", raw=b"a,b\n1,2\n", filename="x.csv", date=today())
    broken = (
        b"type,reference,provider_reference,gross,fee,net,currency,date\n"
        b"capture,att_1,sa_1,1000,59,900,EUR,2026-01-02\n"
    )
    with pytest.raises(SettlementReportError, match="net"):
        parse_settlement_report(provider="sim-a", raw=broken, filename="x.csv", date=today())


def test_a_bad_date_or_unknown_provider_is_refused(providers):
    with pytest.raises(InvalidRequest):
        fetch_settlement_report(provider="sim-a", date="26/11/2026")
    with pytest.raises(NotFound):
        fetch_settlement_report(provider="nobody", date=today())


def test_settlement_delay_is_configurable_per_provider(providers, monkeypatch):
    assert settlement_delay_days(provider="sim-a") == 1  # the simulator kind's default
    monkeypatch.setenv("ROUTING_SETTLEMENT_DELAY_DAYS", "sim-b=0, sim-a=4")
    assert (settlement_delay_days(provider="sim-a"), settlement_delay_days(provider="sim-b")) == (
        4,
        0,
    )
    with pytest.raises(NotFound):
        settlement_delay_days(provider="nobody")
