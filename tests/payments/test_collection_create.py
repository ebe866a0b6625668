"""Creating bank-transfer and QR payments over the API: 201 `requires_action` with what the
customer needs in `next_action`, public QR images that scan back to the payload, and 400s that
name the parameter when the scheme or method does not fit the currency."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient
from stdnum import iso11649

from payments.models import Payment
from payments.qr.emvco import parse_merchant_qr
from payments.qr.epc import parse_epc
from payments.qr.upi import parse_upi
from routing import services as routing_services
from routing.models import Attempt, Provider
from routing.providers import invalidate
from tests.conftest import client_for
from tests.payments.collections import (
    collect_bank_transfer,
    collect_qr,
    path_of,
    subscribe_to_everything,
    webhook_events,
)
from tests.qr_reader import decode_qr_png

pytestmark = pytest.mark.django_db

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_bank_transfer_answers_with_the_account_reference_and_epc_qr(api, settings):
    before_s = int(time.time())
    response = collect_bank_transfer(api, amount=4250)

    assert response.status_code == 201, response.content
    payment = response.json()
    assert payment["status"] == "requires_action"
    assert payment["payment_method"]["type"] == "bank_transfer"
    action = payment["next_action"]
    assert action["type"] == "bank_transfer_instructions"
    instructions = action["bank_transfer_instructions"]
    account = settings.COLLECTION_ACCOUNTS["test"]
    assert instructions["account"] == {
        "iban": account["iban"],
        "bic": account["bic"],
        "name": account["name"],
    }
    reference = instructions["reference"]
    assert iso11649.is_valid(reference)
    assert payment["payment_method"]["bank_transfer"]["reference"] == reference
    assert (instructions["amount"], instructions["currency"]) == (4250, "EUR")
    expected_expiry_s = before_s + settings.COLLECTION_EXPIRY_S
    assert expected_expiry_s - 5 <= instructions["expires_at"] <= expected_expiry_s + 5

    transfer = parse_epc(instructions["epc_payload"])
    assert (transfer.iban, transfer.bic, transfer.name) == (
        account["iban"],
        account["bic"],
        account["name"],
    )
    assert (transfer.amount_minor, transfer.reference) == (4250, reference)


def test_each_bank_transfer_gets_its_own_reference(api):
    references = {
        collect_bank_transfer(api).json()["next_action"]["bank_transfer_instructions"]["reference"]
        for _ in range(3)
    }
    assert len(references) == 3


def test_the_epc_qr_image_is_public_and_scans_to_the_payload(api):
    instructions = collect_bank_transfer(api).json()["next_action"]["bank_transfer_instructions"]

    image = APIClient().get(path_of(instructions["qr_image_url"]))  # no API key

    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image.content.startswith(PNG_SIGNATURE)
    assert decode_qr_png(image.content) == [instructions["epc_payload"]]
    svg = APIClient().get(path_of(instructions["qr_image_svg_url"]))
    assert (svg.status_code, svg["Content-Type"]) == (200, "image/svg+xml")


def test_a_qr_image_url_that_was_not_issued_is_404(api):
    url = collect_bank_transfer(api).json()["next_action"]["bank_transfer_instructions"][
        "qr_image_url"
    ]
    token = path_of(url).removeprefix("/pay/qr/").removesuffix(".png")
    payment_id, _, signature = token.rpartition(".")

    forged = APIClient().get(f"/pay/qr/{payment_id}.{signature[:-2]}xx.png")
    unsigned = APIClient().get(f"/pay/qr/{payment_id}.png")

    assert (forged.status_code, unsigned.status_code) == (404, 404)


@pytest.mark.parametrize("scheme", ["pix", "paynow", "promptpay", "emvco"])
def test_an_emvco_qr_payment_answers_with_the_scheme_payload(api, providers, settings, scheme):
    before_s = int(time.time())
    response = collect_qr(api, scheme, amount=1999)

    assert response.status_code == 201, response.content
    payment = response.json()
    assert payment["status"] == "requires_action"
    assert payment["payment_method"]["qr"]["scheme"] == scheme
    code = payment["next_action"]["qr_code"]
    assert payment["next_action"]["type"] == "qr_code"
    assert code["scheme"] == scheme
    expected_expiry_s = before_s + settings.QR_EXPIRY_S
    assert expected_expiry_s - 5 <= code["expires_at"] <= expected_expiry_s + 5
    parsed = parse_merchant_qr(code["payload"])
    assert parsed.profile == scheme
    assert parsed.merchant_id == settings.QR_SCHEME_ACCOUNTS["test"][scheme]["merchant_id"]
    assert parsed.amount_minor == 1999
    assert parsed.reference == code["reference"] == payment["payment_method"]["qr"]["reference"]
    image = APIClient().get(path_of(code["image_url"]))
    assert image["Content-Type"] == "image/png"
    assert decode_qr_png(image.content) == [code["payload"]]


def test_a_upi_qr_payment_answers_with_a_upi_link(api, providers, settings):
    response = collect_qr(api, "upi", amount=50_000)

    assert response.status_code == 201, response.content
    code = response.json()["next_action"]["qr_code"]
    link = parse_upi(code["payload"])
    assert link.vpa == settings.QR_SCHEME_ACCOUNTS["test"]["upi"]["merchant_id"]
    assert (link.amount_minor, link.reference) == (50_000, code["reference"])


def test_a_qr_payment_is_registered_with_the_simulator(api, providers, sim):
    payment = collect_qr(api, "pix", amount=1999).json()

    [record] = sim.records("sim-a")
    assert (record["method"], record["status"], record["amount"]) == ("qr", "requires_action", 1999)
    assert record["qr"]["reference"] == payment["next_action"]["qr_code"]["reference"]
    assert payment["provider"] == "sim-a"


@pytest.mark.parametrize(
    ("scheme", "currency"),
    [("pix", "eur"), ("paynow", "thb"), ("promptpay", "sgd"), ("upi", "usd")],
)
def test_a_scheme_that_does_not_take_the_currency_is_refused(api, providers, sim, scheme, currency):
    response = collect_qr(api, scheme, currency=currency)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("payment_method[scheme]", "scheme_currency_mismatch")
    assert sim.records("sim-a") == []


def test_an_unknown_scheme_is_refused(api, providers):
    response = collect_qr(api, "swish", currency="sek")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "payment_method[scheme]"


def test_a_scheme_on_another_method_is_refused(api):
    body = {"payment_method": {"type": "bank_transfer", "scheme": "pix"}}
    response = collect_bank_transfer(api, **body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "payment_method[scheme]"


def test_a_bank_transfer_in_another_currency_than_euro_is_refused(api):
    response = collect_bank_transfer(api, currency="usd")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "currency"


def test_a_method_not_configured_for_live_mode_is_refused(merchant, settings):
    settings.COLLECTION_ACCOUNTS = {**settings.COLLECTION_ACCOUNTS, "live": {}}
    live = client_for(merchant.live_secret)

    response = collect_bank_transfer(live)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("payment_method[type]", "payment_method_unavailable")


def test_creating_one_queues_the_requires_action_webhook(api, merchant):
    subscribe_to_everything(merchant.merchant.pk)

    payment = collect_bank_transfer(api).json()

    assert webhook_events(payment["id"]) == [("payment.requires_action", "requires_action")]
    retrieved = api.get(f"/api/payments/{payment['id']}").json()
    assert retrieved["next_action"] == payment["next_action"]


def test_a_qr_registration_left_unanswered_still_lets_the_customer_pay(api, providers, sim):
    Provider.objects.filter(name="sim-a").update(timeout_ms=300)
    invalidate()
    sim.control("sim-a", timeout_rate=1.0, timeout_s=1)

    response = collect_qr(api, "pix", amount=1999)

    assert response.status_code == 201, response.content
    payment = Payment.objects.get(pk=response.json()["id"])
    assert (payment.status, payment.provider) == ("requires_action", "sim-a")
    assert Attempt.objects.get(pk=payment.attempt_id).outcome == "timeout_unknown"
    # The status inquiry finds the registration; the payment still waits for the customer.
    sim.control("sim-a", timeout_rate=0.0)
    assert routing_services.resolve_unknown_attempt(attempt_id=payment.attempt_id).outcome == (
        "requires_action"
    )
    # Paid, with the webhook not here yet (none is configured): an inquiry that finds the
    # payment does not complete it; the webhook, naming the amount paid, will.
    sim.client.post(f"/_control/sim-a/qr/{payment.reference}/scan", json={})
    assert routing_services.resolve_unknown_attempt(attempt_id=payment.attempt_id).outcome == (
        "approved"
    )
    after = Payment.objects.get(pk=payment.id)
    assert (after.status, after.amount_captured_minor) == ("requires_action", 0)
