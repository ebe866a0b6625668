"""A payment link is paid once: whichever of its payments is captured first cancels the others
still waiting for the customer, money that arrives later for one of them is not booked to it,
and a deactivated link's waiting bank transfers and QR codes are canceled."""

from __future__ import annotations

import pytest
from django.utils import timezone

from core.errors import InvalidState
from ledger.statements import services as statements
from ledger.statements.models import StatementLine
from payments import collection
from payments.models import Payment, PaymentLink
from payments.services import Actor, NewPayment
from tests.payments.collections import subscribe_to_everything, webhook_events
from tests.payments.test_payment_links import BASE_URL, create_link, open_page, page_post

pytestmark = pytest.mark.django_db

THREE_DS_CARD = "4000000000003220"


@pytest.fixture(autouse=True)
def _public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL


def _open(link: dict, method: str, **extra) -> dict:
    client, token, _ = open_page(link)
    response = page_post(client, token, link, "collect", {"method": method, **extra})
    assert response.status_code == 201, response.content
    return response.json()["payment"]


def _complete(payment_id: str, amount_minor: int = 1999) -> Payment:
    return collection.complete_collection(
        payment_id=payment_id,
        amount_minor=amount_minor,
        currency="EUR",
        source="bank:DE89370400440532013000",
        source_reference="credit-1",
        actor=Actor.system("test"),
    )


def test_a_card_paid_on_the_page_cancels_the_links_waiting_bank_transfer_and_qr_code(
    api, merchant, tokenize, providers
) -> None:
    subscribe_to_everything(merchant.merchant.pk)
    link = create_link(api, methods=["card", "bank_transfer", "qr:emvco"])
    bank = _open(link, "bank_transfer")
    qr = _open(link, "qr:emvco")
    client, token, _ = open_page(link)

    paid = page_post(client, token, link, "card", {"token": tokenize()})

    assert paid.status_code == 201, paid.content
    assert paid.json()["status"] == "paid"
    for waiting in (bank, qr):
        assert Payment.objects.get(pk=waiting["id"]).status == "canceled"
        assert webhook_events(waiting["id"]) == [
            ("payment.requires_action", "requires_action"),
            ("payment.canceled", "canceled"),
        ]
    statuses = Payment.objects.filter(payment_link_id=link["id"]).values_list("status", flat=True)
    assert sorted(statuses) == ["canceled", "canceled", "captured"]


def test_a_transfer_arriving_for_a_link_paid_by_card_waits_for_finance(
    api, tokenize, providers
) -> None:
    link = create_link(api)
    bank = _open(link, "bank_transfer")
    client, token, _ = open_page(link)
    assert page_post(client, token, link, "card", {"token": tokenize()}).status_code == 201

    result = statements.record_synthetic_credit(
        livemode=False,
        amount_minor=1999,
        currency="EUR",
        reference=bank["bank_transfer"]["reference"],
        payer_name="Jane Doe",
    )

    assert (result.matched, result.queued) == (0, 1)
    assert StatementLine.objects.get(statement_id=result.statement_id).state == "manual_queue"
    assert Payment.objects.get(pk=bank["id"]).status == "canceled"
    captured = Payment.objects.filter(payment_link_id=link["id"], status="captured")
    assert captured.count() == 1


def test_a_bank_transfer_completing_a_link_cancels_its_other_waiting_payments(
    api, merchant, providers
) -> None:
    subscribe_to_everything(merchant.merchant.pk)
    link = create_link(api, methods=["card", "bank_transfer", "qr:emvco"])
    bank = _open(link, "bank_transfer")
    qr = _open(link, "qr:emvco")

    _complete(bank["id"])

    assert Payment.objects.get(pk=bank["id"]).status == "captured"
    assert Payment.objects.get(pk=qr["id"]).status == "canceled"
    assert webhook_events(qr["id"])[-1] == ("payment.canceled", "canceled")
    client, token, _ = open_page(link)
    again = page_post(client, token, link, "collect", {"method": "qr:emvco"})
    assert again.json()["error"]["code"] == "payment_link_paid"


def test_a_payment_left_open_on_a_paid_link_refuses_the_money(api) -> None:
    """Two transfers of one link open at once (the page shows one per method): the first to
    arrive pays the link; a waiting one that escaped the cancellation is refused."""
    link = create_link(api)
    first = _open(link, "bank_transfer")
    second = collection.create_collection_payment(
        request=_new_payment(link["id"]),
        method="bank_transfer",
        actor=Actor.system("test"),
    )
    _complete(first["id"])
    Payment.objects.filter(pk=second.id).update(status="requires_action")  # escaped the cancel

    with pytest.raises(InvalidState) as refused:
        _complete(second.id)

    assert refused.value.code == "payment_link_paid"
    assert Payment.objects.get(pk=second.id).status == "requires_action"
    assert Payment.objects.filter(payment_link_id=link["id"], status="captured").count() == 1


def _new_payment(link_id: str) -> NewPayment:
    link = PaymentLink.objects.get(pk=link_id)
    return NewPayment(
        merchant_id=link.merchant_id,
        livemode=link.livemode,
        amount_minor=link.amount_minor,
        currency=link.currency,
        capture=True,
        payment_link_id=link.id,
    )


def test_deactivating_a_link_cancels_its_waiting_payments(api, merchant) -> None:
    subscribe_to_everything(merchant.merchant.pk)
    link = create_link(api)
    bank = _open(link, "bank_transfer")

    response = api.post(f"/api/payment-links/{link['id']}/deactivate", {}, format="json")

    assert response.status_code == 200, response.content
    assert Payment.objects.get(pk=bank["id"]).status == "canceled"
    assert webhook_events(bank["id"])[-1] == ("payment.canceled", "canceled")


def test_money_for_a_payment_of_a_deactivated_link_is_refused(api) -> None:
    link = create_link(api)
    bank = _open(link, "bank_transfer")
    # The merchant deactivates it while the transfer is being matched (the cancel skipped it).
    PaymentLink.objects.filter(pk=link["id"]).update(deactivated_at=timezone.now())

    with pytest.raises(InvalidState) as refused:
        _complete(bank["id"])

    assert refused.value.code == "payment_link_deactivated"
    assert Payment.objects.get(pk=bank["id"]).status == "requires_action"


def test_a_processing_card_payment_holds_back_a_transfer_for_the_link(api) -> None:
    link = create_link(api)
    bank = _open(link, "bank_transfer")
    card = collection.create_collection_payment(
        request=_new_payment(link["id"]), method="bank_transfer", actor=Actor.system("test")
    )
    # As a card payment whose provider has not answered yet.
    Payment.objects.filter(pk=card.id).update(status="processing", method_type="card")

    with pytest.raises(InvalidState) as refused:
        _complete(bank["id"])

    assert refused.value.code == "payment_link_processing"
    assert Payment.objects.get(pk=bank["id"]).status == "requires_action"


def test_a_new_card_payment_cancels_the_links_abandoned_challenge(
    api, merchant, tokenize, providers
) -> None:
    subscribe_to_everything(merchant.merchant.pk)
    link = create_link(api)
    client, token, _ = open_page(link)
    challenged = page_post(client, token, link, "card", {"token": tokenize(THREE_DS_CARD)})
    assert challenged.status_code == 201, challenged.content
    abandoned = challenged.json()["payment"]
    assert abandoned["status"] == "requires_action"

    paid = page_post(client, token, link, "card", {"token": tokenize()})

    assert paid.status_code == 201, paid.content
    assert paid.json()["status"] == "paid"
    assert Payment.objects.get(pk=abandoned["id"]).status == "canceled"
    assert webhook_events(abandoned["id"])[-1] == ("payment.canceled", "canceled")
