"""What a bank transfer or QR payment takes at creation beyond the method: the payer's name
(`customer.name`, kept so a credit that arrives without its reference is suggested by the
payer's name; also from a payment link's page), and no `capture: false` (the money captures
it when it arrives)."""

from __future__ import annotations

import pytest

from ledger.statements import services as statements
from ledger.statements.models import LineState, StatementLine
from payments import collection
from payments.models import Payment
from tests.payments.collections import collect_bank_transfer
from tests.payments.test_payment_links import BASE_URL, create_link, open_page, page_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL


def test_the_payers_name_is_kept_and_ranks_a_credit_without_reference(api):
    jane = collect_bank_transfer(api, amount=7300, customer={"name": "Jane  Doe"}).json()
    bob = collect_bank_transfer(api, amount=7300, customer={"name": "Bob Stone"}).json()
    assert (jane["status"], bob["status"]) == ("requires_action", "requires_action")
    views = collection.open_collections_by_amount(amount_minor=7300, currency="EUR", livemode=False)
    assert {view.payment_id: view.customer_name for view in views} == {
        jane["id"]: "Jane Doe",
        bob["id"]: "Bob Stone",
    }

    result = statements.record_synthetic_credit(
        livemode=False, amount_minor=7300, currency="EUR", reference="", payer_name="DOE JANE"
    )

    line = StatementLine.objects.get(statement_id=result.statement_id)
    assert line.state == LineState.MANUAL_QUEUE
    assert [s["payment_id"] for s in line.suggestions] == [jane["id"], bob["id"]]
    assert line.suggestions[0]["customer_name"] == "Jane Doe"
    assert line.suggestions[0]["score"] > line.suggestions[1]["score"]


def test_a_payers_name_longer_than_140_characters_is_refused(api):
    response = collect_bank_transfer(api, customer={"name": "J" * 141})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "customer[name]"
    assert not Payment.objects.exists()


def test_the_link_page_passes_the_payers_name_to_the_bank_transfer(api):
    link = create_link(api)
    client, token, page = open_page(link)
    html = page.content.decode()
    assert '<label for="bank-payer-name">Your name' in html
    assert 'id="bank-payer-name" name="customer_name" maxlength="140"' in html

    response = page_post(
        client, token, link, "collect", {"method": "bank_transfer", "customer_name": "Jane Doe"}
    )

    assert response.status_code == 201, response.content
    payment = Payment.objects.get(payment_link_id=link["id"])
    assert payment.method_details["customer_name"] == "Jane Doe"
    too_long = page_post(
        client, token, link, "collect", {"method": "bank_transfer", "customer_name": "J" * 141}
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["param"] == "customer_name"


def test_capture_false_is_refused_for_a_bank_transfer(api):
    response = collect_bank_transfer(api, capture=False)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("capture", "parameter_invalid")
    assert not Payment.objects.exists()


def test_capture_false_is_refused_for_a_qr_payment(api):
    body = {"payment_method": {"type": "qr", "scheme": "pix"}, "amount": 100, "currency": "brl"}

    response = api.post("/api/payments", {**body, "capture": False}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "capture"
    assert not Payment.objects.exists()


def test_capture_true_or_left_out_is_accepted_for_a_bank_transfer(api):
    assert collect_bank_transfer(api, capture=True).status_code == 201
    assert collect_bank_transfer(api).status_code == 201
