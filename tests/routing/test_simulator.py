"""The PSP simulator over raw HTTP: what a provider integration (or a curl user) sees.

No database: these tests talk to the simulator subprocess started by `tests/fixtures/simulator`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.fixtures.simulator import REPO_ROOT, WEBHOOK_SECRET, SimulatorHandle

pytest_plugins = ["tests.fixtures.simulator"]  # also listed by tests/conftest.py

VISA_OK = "4242424242424242"
THREE_DS = "4000000000003220"
OTHER_VISA = "4111111111111111"  # Luhn-valid, not a test card: approval-rate knobs decide
OTHER_MASTERCARD = "5555555555554444"

TEST_CARDS = [
    ("4242424242424242", "approved", None),
    ("4000000000000002", "declined", "generic_decline"),
    ("4000000000009995", "declined", "insufficient_funds"),
    ("4000000000000069", "declined", "expired_card"),
    ("4000000000000127", "declined", "incorrect_cvc"),
    ("4000000000000119", "declined", "processing_error"),
    ("4000000000003220", "requires_action", None),
    ("4100000000000019", "declined", "fraudulent"),
]


def card_body(reference: str, number: str = VISA_OK, **overrides: Any) -> dict[str, Any]:
    body = {
        "reference": reference,
        "amount": 1000,
        "currency": "EUR",
        "method": "card",
        "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        "capture": False,
    }
    return {**body, **overrides}


def authorize(
    sim: SimulatorHandle, body: dict[str, Any], provider: str = "sim-a"
) -> httpx.Response:
    return sim.client.post(f"/{provider}/v1/authorizations", json=body)


def approved(sim: SimulatorHandle, reference: str, **overrides: Any) -> dict[str, Any]:
    response = authorize(sim, card_body(reference, **overrides))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved"
    return response.json()


def post(sim: SimulatorHandle, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return sim.client.post(path, json=body or {})


def settlement_rows(sim: SimulatorHandle, provider: str, date: str) -> list[dict[str, str]]:
    response = sim.client.get(f"/{provider}/v1/settlements/{date}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def utc_date(timestamp_s: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_s, dt.UTC).date().isoformat()


# -- start-up -------------------------------------------------------------------------------


def test_starts_fast_and_prints_one_listening_line(tmp_path):
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "routing.simulator", "--port=0", "--providers=sim-x,sim-y"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        elapsed_s = time.monotonic() - started
        assert line.startswith("psp-sim listening on http://127.0.0.1:")
        assert line.endswith(" providers=sim-x,sim-y")
        assert elapsed_s < 1.5
        base_url = line.split()[3]
        health = httpx.get(f"{base_url}/_control/health", trust_env=False).json()
        assert health == {"status": "ok", "providers": ["sim-x", "sim-y"]}
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_unknown_provider_and_route_are_404(sim):
    response = authorize(sim, card_body("att_x"), provider="sim-zz")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_provider"
    assert sim.client.get("/nowhere/at/all").json()["error"]["code"] == "route_not_found"


# -- cards ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "status", "decline_code"), TEST_CARDS)
def test_public_test_cards_are_honoured(sim, number, status, decline_code):
    sim.control("sim-a", approval_rate={"*": 0.0})  # test cards ignore the approval knobs
    response = authorize(sim, card_body("att_card", number))
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["decline_code"]) == (status, decline_code)
    assert body["card"]["last4"] == number[-4:]


def test_other_valid_cards_follow_the_approval_rate(sim):
    assert approved(sim, "att_1", number=OTHER_VISA)["card"]["brand"] == "visa"
    sim.control("sim-a", approval_rate={"*": 0.0})
    declined = authorize(sim, card_body("att_2", OTHER_VISA)).json()
    assert (declined["status"], declined["decline_code"]) == ("declined", "try_again_later")


def test_approval_rate_by_brand_and_country(sim):
    sim.control("sim-a", approval_rate={"*": 1.0, "visa": 0.0, "country:us": 1.0})
    visa = authorize(sim, card_body("att_v", OTHER_VISA)).json()
    mastercard = authorize(sim, card_body("att_m", OTHER_MASTERCARD)).json()
    card_us = {"number": OTHER_VISA, "exp_month": 1, "exp_year": 2035, "country": "US"}
    visa_us = authorize(sim, card_body("att_us", card=card_us)).json()
    assert [visa["status"], mastercard["status"], visa_us["status"]] == [
        "declined",
        "approved",
        "approved",
    ]


def test_seeded_approval_rate_is_repeatable(sim):
    def statuses() -> list[str]:
        sim.reset()
        sim.control("sim-a", approval_rate={"*": 0.5}, seed=7)
        return [
            authorize(sim, card_body(f"att_{i}", OTHER_VISA)).json()["status"] for i in range(20)
        ]

    first = statuses()
    assert first == statuses()
    assert {"approved", "declined"} == set(first)


def test_invalid_and_expired_cards_are_declined(sim):
    bad_luhn = authorize(sim, card_body("att_1", "4242424242424241")).json()
    expired_card = {"number": OTHER_VISA, "exp_month": 1, "exp_year": 2020, "cvc": "1"}
    expired = authorize(sim, card_body("att_2", card=expired_card)).json()
    assert bad_luhn["decline_code"] == "incorrect_number"
    assert expired["decline_code"] == "expired_card"


def test_wallet_payments_approve(sim):
    body = card_body("att_w", method="wallet", wallet={"type": "apple_pay", "token": "tok-xyz"})
    del body["card"]
    record = authorize(sim, body).json()
    assert record["status"] == "approved"
    assert record["wallet"] == {"type": "apple_pay"}
    assert "tok-xyz" not in str(sim.records("sim-a"))


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"amount": 10.5}, "amount"),
        ({"amount": 0}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"reference": ""}, "reference"),
        ({"method": "qr"}, "method"),
    ],
)
def test_invalid_authorization_requests_are_refused(sim, change, param):
    response = authorize(sim, {**card_body("att_bad"), **change})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert sim.records("sim-a") == []


# -- idempotency ----------------------------------------------------------------------------


def test_same_reference_returns_the_existing_authorization(sim):
    first = authorize(sim, card_body("att_same"))
    second = authorize(sim, card_body("att_same"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    assert len(sim.records("sim-a")) == 1


def test_same_reference_with_another_amount_is_a_conflict(sim):
    authorize(sim, card_body("att_same"))
    response = authorize(sim, card_body("att_same", amount=2000))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"


def test_concurrent_identical_authorizations_make_one_record(sim):
    threads_count = 20
    barrier = threading.Barrier(threads_count)
    ids: list[str] = []

    def attempt() -> None:
        with httpx.Client(base_url=sim.base_url, trust_env=False) as client:
            barrier.wait()
            response = client.post("/sim-a/v1/authorizations", json=card_body("att_race"))
            ids.append(response.json()["id"])

    threads = [threading.Thread(target=attempt) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == threads_count
    assert len(set(ids)) == 1
    assert len(sim.records("sim-a")) == 1


def test_the_same_reference_at_two_providers_is_two_authorizations(sim):
    a = authorize(sim, card_body("att_both"), provider="sim-a").json()
    b = authorize(sim, card_body("att_both"), provider="sim-b").json()
    assert a["id"] != b["id"]
    assert len(sim.records("sim-a")) == len(sim.records("sim-b")) == 1


# -- capture, refund, void ------------------------------------------------------------------


def test_partial_capture_and_replayed_capture(sim):
    auth = approved(sim, "att_c")
    path = f"/sim-a/v1/authorizations/{auth['id']}/capture"
    first = post(sim, path, {"amount": 600})
    again = post(sim, path, {"amount": 600})
    other = post(sim, path, {"amount": 700})
    assert first.json()["amount_captured"] == 600
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.json()["error"]["code"] == "already_captured"
    assert sim.records("sim-a")[0]["amount_captured"] == 600


def test_capture_beyond_authorized_or_of_a_decline_is_refused(sim):
    auth = approved(sim, "att_c")
    too_much = post(sim, f"/sim-a/v1/authorizations/{auth['id']}/capture", {"amount": 1001})
    declined = authorize(sim, card_body("att_d", "4000000000000002")).json()
    not_approved = post(sim, f"/sim-a/v1/authorizations/{declined['id']}/capture")
    assert too_much.json()["error"]["code"] == "amount_exceeds_authorized"
    assert not_approved.json()["error"]["code"] == "invalid_state"


def test_refunds_never_exceed_captured_minus_refunded(sim):
    auth = approved(sim, "att_r", capture=True)
    path = f"/sim-a/v1/authorizations/{auth['id']}/refunds"
    assert post(sim, path, {"amount": 600, "reference": "re_1"}).status_code == 201
    too_much = post(sim, path, {"amount": 600, "reference": "re_2"})
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_exceeds_refundable"
    rest = post(sim, path, {"reference": "re_3"})  # no amount: everything left
    assert rest.json()["amount"] == 400
    replay = post(sim, path, {"amount": 600, "reference": "re_1"})
    assert replay.status_code == 200
    [record] = sim.records("sim-a")
    assert record["amount_refunded"] == 1000
    assert [r["reference"] for r in record["refunds"]] == ["re_1", "re_3"]


def test_concurrent_refunds_cannot_overdraw(sim):
    auth = approved(sim, "att_r", capture=True)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def refund(index: int) -> None:
        with httpx.Client(base_url=sim.base_url, trust_env=False) as client:
            barrier.wait()
            path = f"/sim-a/v1/authorizations/{auth['id']}/refunds"
            statuses.append(
                client.post(path, json={"amount": 300, "reference": f"re_{index}"}).status_code
            )

    threads = [threading.Thread(target=refund, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 3 + [400] * 7
    assert sim.records("sim-a")[0]["amount_refunded"] == 900


def test_refund_before_capture_is_refused(sim):
    auth = approved(sim, "att_r")
    response = post(sim, f"/sim-a/v1/authorizations/{auth['id']}/refunds", {"reference": "re_1"})
    assert response.json()["error"]["code"] == "not_captured"


def test_void_releases_an_uncaptured_authorization_only(sim):
    auth = approved(sim, "att_v")
    voided = post(sim, f"/sim-a/v1/authorizations/{auth['id']}/void").json()
    captured = approved(sim, "att_cv", capture=True)
    refused = post(sim, f"/sim-a/v1/authorizations/{captured['id']}/void").json()
    assert voided["status"] == "voided"
    assert refused["error"]["code"] == "already_captured"
    after_void = post(sim, f"/sim-a/v1/authorizations/{auth['id']}/capture").json()
    assert after_void["error"]["code"] == "invalid_state"


# -- status inquiry and failures ------------------------------------------------------------


def test_status_inquiry_by_our_reference(sim):
    auth = approved(sim, "att_s")
    found = sim.client.get("/sim-a/v1/authorizations", params={"reference": "att_s"})
    missing = sim.client.get("/sim-a/v1/authorizations", params={"reference": "att_never"})
    assert found.json()["id"] == auth["id"]
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_outage_answers_503_everywhere_and_records_nothing(sim):
    sim.control("sim-a", outage=True)
    assert authorize(sim, card_body("att_o")).status_code == 503
    inquiry = sim.client.get("/sim-a/v1/authorizations", params={"reference": "att_o"})
    assert inquiry.status_code == 503
    assert authorize(sim, card_body("att_o"), provider="sim-b").status_code == 201
    assert sim.records("sim-a") == []


def test_error_rate_answers_500_without_authorizing(sim):
    sim.control("sim-a", error_rate=1.0)
    response = authorize(sim, card_body("att_e"))
    assert response.status_code == 500
    assert sim.records("sim-a") == []


def test_timeout_records_the_authorization_but_answers_too_late(sim):
    sim.control("sim-a", timeout_rate=1.0, timeout_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        sim.client.post("/sim-a/v1/authorizations", json=card_body("att_t"), timeout=0.3)
    inquiry = sim.client.get("/sim-a/v1/authorizations", params={"reference": "att_t"})
    assert inquiry.status_code == 200
    assert inquiry.json()["status"] == "approved"


def test_latency_is_added(sim):
    sim.control("sim-a", latency_ms={"mean": 150, "jitter": 0})
    started = time.monotonic()
    authorize(sim, card_body("att_l"))
    assert time.monotonic() - started >= 0.15


# -- 3-D Secure -----------------------------------------------------------------------------


def start_challenge(sim: SimulatorHandle, reference: str, **overrides: Any) -> dict[str, Any]:
    body = card_body(reference, THREE_DS, return_url="https://shop.test/back?order=9", **overrides)
    record = authorize(sim, body).json()
    assert record["status"] == "requires_action"
    assert record["redirect_url"] == f"{sim.base_url}/sim-a/3ds/{record['id']}"
    return record


def test_3ds_challenge_completed(sim):
    record = start_challenge(sim, "att_3ds", capture=True)
    page = httpx.get(record["redirect_url"], trust_env=False)
    assert "Complete authentication" in page.text
    assert "Fail authentication" in page.text
    assert '<form method="post">' in page.text
    submit = httpx.post(record["redirect_url"], data={"result": "complete"}, trust_env=False)
    assert submit.status_code == 302
    assert submit.headers["location"] == "https://shop.test/back?order=9&reference=att_3ds"
    status = sim.client.get("/sim-a/v1/authorizations", params={"reference": "att_3ds"}).json()
    assert (status["status"], status["amount_captured"]) == ("approved", 1000)


def test_3ds_challenge_failed(sim):
    record = start_challenge(sim, "att_3ds")
    httpx.post(record["redirect_url"], data={"result": "fail"}, trust_env=False)
    status = sim.client.get("/sim-a/v1/authorizations", params={"reference": "att_3ds"}).json()
    assert (status["status"], status["decline_code"]) == ("declined", "authentication_failed")
    again = httpx.post(record["redirect_url"], data={"result": "complete"}, trust_env=False)
    assert again.status_code == 302  # a second submit changes nothing
    assert sim.records("sim-a")[0]["status"] == "declined"


# -- fees and settlement --------------------------------------------------------------------


def test_settlement_report_lists_captures_and_refunds_with_scheduled_fees(sim):
    sim.control("sim-a", fees={"EUR": {"percent_bp": 140, "fixed_minor": 25}})
    eur = approved(sim, "att_eur", amount=10_000, capture=True)
    usd = approved(sim, "att_usd", amount=10_000, currency="USD", capture=True)
    post(
        sim, f"/sim-a/v1/authorizations/{eur['id']}/refunds", {"amount": 2500, "reference": "re_1"}
    )
    date = utc_date(eur["captured_at"])
    rows = settlement_rows(sim, "sim-a", date)
    assert [
        (r["type"], r["reference"], r["gross"], r["fee"], r["net"], r["currency"]) for r in rows
    ] == [
        ("capture", "att_eur", "10000", "165", "9835", "EUR"),  # 25 + 1.40 %
        ("capture", "att_usd", "10000", "320", "9680", "USD"),  # sim-a default 30 + 2.90 %
        ("refund", "re_1", "-2500", "0", "-2500", "EUR"),
        ("payout", "", "-7335", "0", "-7335", "EUR"),  # the day's EUR net, paid out
        ("payout", "", "-9680", "0", "-9680", "USD"),
    ]
    assert rows[0]["provider_reference"] == eur["id"]
    assert rows[1]["provider_reference"] == usd["id"]
    assert {r["date"] for r in rows} == {date}
    eur_payout, usd_payout = rows[3]["provider_reference"], rows[4]["provider_reference"]
    assert eur_payout.startswith("po_") and eur_payout != usd_payout
    assert [r["payout_reference"] for r in rows] == [
        eur_payout,
        usd_payout,
        eur_payout,
        eur_payout,
        usd_payout,
    ]
    written = (sim.data_dir / "sim-a" / "settlements" / f"{date}.csv").read_text()
    assert list(csv.DictReader(io.StringIO(written))) == rows[:3]  # movements as they happen
    assert settlement_rows(sim, "sim-a", date) == rows  # fetched again: the same report


def test_providers_have_different_default_fees(sim):
    a = approved(sim, "att_a", amount=10_000, capture=True)
    b = authorize(sim, card_body("att_b", amount=10_000, capture=True), provider="sim-b").json()
    assert (a["fee"], b["fee"]) == (320, 275)  # 30 + 2.9 %, 25 + 2.5 %
    assert sim.config("sim-b")["fees"]["*"] == {"percent_bp": 250, "fixed_minor": 25}


@pytest.mark.parametrize(("amount", "fee"), [(49, 0), (50, 1), (149, 1), (150, 2)])
def test_fee_percentage_rounds_half_up(sim, amount, fee):
    sim.control("sim-a", fees={"*": {"percent_bp": 100, "fixed_minor": 0}})
    assert approved(sim, f"att_{amount}", amount=amount, capture=True)["fee"] == fee


def test_float_fees_and_unknown_knobs_are_refused(sim):
    float_fee = post(sim, "/_control/sim-a", {"fees": {"*": {"percent_bp": 2.5}}})
    unknown = post(sim, "/_control/sim-a", {"approval": 0.5})
    assert float_fee.json()["error"]["code"] == "invalid_setting"
    assert unknown.json()["error"]["code"] == "unknown_setting"


def test_reset_forgets_records_and_knobs(sim):
    approved(sim, "att_1")
    sim.control("sim-a", outage=True)
    sim.reset()
    assert sim.records("sim-a") == []
    assert sim.config("sim-a")["outage"] is False


# -- webhooks -------------------------------------------------------------------------------


def verify(received) -> dict[str, Any]:
    return Webhook(WEBHOOK_SECRET).verify(received.body, received.headers)


def test_dispute_lifecycle_sends_signed_events(sim, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    auth = approved(sim, "att_d", capture=True)
    dispute = sim.open_dispute("sim-a", auth["id"], reason="product_not_received")
    sim.update_dispute("sim-a", dispute["id"], "under_review")
    sim.update_dispute("sim-a", dispute["id"], "lost")
    events = [verify(received) for received in webhook_receiver.wait(4)]
    assert [e["type"] for e in events] == [
        "dispute.opened",
        "dispute.funds_withdrawn",
        "dispute.updated",
        "dispute.closed",
    ]
    opened = events[0]
    assert opened["id"].startswith("evt_sim_")
    assert opened["provider"] == "sim-a"
    assert opened["data"]["authorization_id"] == auth["id"]
    assert opened["data"]["reference"] == "att_d"
    assert (opened["data"]["amount"], opened["data"]["currency"]) == (1000, "EUR")
    assert events[1]["data"]["fee"] == 1500
    assert events[3]["data"]["status"] == "lost"
    closed_again = post(sim, f"/_control/sim-a/disputes/{dispute['id']}", {"status": "won"})
    assert closed_again.json()["error"]["code"] == "dispute_closed"


def test_webhook_url_can_name_the_provider_and_headers_follow_the_standard(sim, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    auth = authorize(sim, card_body("att_p"), provider="sim-b").json()
    sim.send_event("sim-b", "payment.succeeded", auth["id"])
    [received] = webhook_receiver.wait()
    assert received.path == "/hooks/sim-b"
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(received.headers)
    assert verify(received)["type"] == "payment.succeeded"


def test_3ds_outcome_is_also_sent_as_a_payment_event(sim, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    record = start_challenge(sim, "att_3ds")
    httpx.post(record["redirect_url"], data={"result": "fail"}, trust_env=False)
    event = verify(webhook_receiver.wait()[0])
    assert event["type"] == "payment.failed"
    assert event["data"]["decline_code"] == "authentication_failed"


def test_failed_deliveries_are_retried(sim, webhook_receiver):
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET])
    webhook_receiver.fail_next(1)
    auth = approved(sim, "att_x")
    sim.send_event("sim-a", "payment.succeeded", auth["id"])
    webhook_receiver.wait()
    deadline = time.monotonic() + 2
    while not (events := sim.events("sim-a"))[0]["delivered"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert events[0]["delivered"] is True
    assert events[0]["attempts"] == 2


def test_rotation_signs_with_every_secret(sim, webhook_receiver):
    new_secret = "whsec_" + "bmV3LXNlY3JldC1mb3Itcm90YXRpb24="
    sim.set_webhook(webhook_receiver.url, [WEBHOOK_SECRET, new_secret])
    auth = approved(sim, "att_x")
    sim.send_event("sim-a", "payment.succeeded", auth["id"])
    [received] = webhook_receiver.wait()
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new_secret).verify(received.body, received.headers)["type"]
    assert verify(received)["type"]


# -- card data never kept -------------------------------------------------------------------


def test_full_card_numbers_are_never_stored_or_logged(sim):
    for index, (number, _, _) in enumerate(TEST_CARDS):
        authorize(sim, card_body(f"att_{index}", number, capture=True))
    everything = [
        sim.client.get("/_control/sim-a/records").text,
        *(path.read_text() for path in sim.data_dir.rglob("*.csv")),
        sim.log_text(),
    ]
    for number, _, _ in TEST_CARDS:
        assert not any(number in text for text in everything)
    assert not any('"cvc"' in text or '"123"' in text for text in everything)
    record = sim.records("sim-a")[0]
    assert record["card"]["bin"] == "424242"
    assert record["card"]["last4"] == "4242"


def test_three_ds_can_be_requested_for_any_approving_card(sim):
    body = {
        "reference": "att_force3ds",
        "amount": 500,
        "currency": "EUR",
        "method": "card",
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        "return_url": "http://127.0.0.1:9/back",
        "three_ds": True,
    }
    response = httpx.post(f"{sim.base_url}/sim-a/v1/authorizations", json=body)
    assert response.status_code == 201
    assert response.json()["status"] == "requires_action"
    declined = {**body, "reference": "att_force3ds_decl"}
    declined["card"] = {**body["card"], "number": "4000000000000002"}
    response = httpx.post(f"{sim.base_url}/sim-a/v1/authorizations", json=declined)
    assert response.json()["status"] == "declined"  # a decline stays a decline
