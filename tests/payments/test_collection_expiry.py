"""Unpaid bank transfers and QR payments are canceled by the beat task once `expires_at` has
passed (event row and `payment.canceled` webhook, as for a card); money that arrives after
that does not complete them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import InvalidState
from payments import collection, services, tasks
from payments.models import Payment, PaymentEvent
from tests.payments.collections import (
    collect_bank_transfer,
    collect_qr,
    ledger_lines,
    path_of,
    subscribe_to_everything,
    webhook_events,
)

pytestmark = pytest.mark.django_db


def _expire(payment_id: str) -> None:
    Payment.objects.filter(pk=payment_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_the_beat_task_cancels_unpaid_payments_past_their_expiry(api, merchant, providers):
    subscribe_to_everything(merchant.merchant.pk)
    overdue_transfer = collect_bank_transfer(api).json()
    overdue_qr = collect_qr(api, "promptpay").json()
    still_open = collect_bank_transfer(api).json()
    _expire(overdue_transfer["id"])
    _expire(overdue_qr["id"])

    assert tasks.expire_collections.delay().get() == 2

    for payment in (overdue_transfer, overdue_qr):
        canceled = api.get(f"/api/payments/{payment['id']}").json()
        assert (canceled["status"], canceled["next_action"]) == ("canceled", None)
        assert webhook_events(payment["id"])[-1] == ("payment.canceled", "canceled")
        event = PaymentEvent.objects.filter(payment_id=payment["id"]).last()
        assert (event.to_status, event.actor, event.reason) == (
            "canceled",
            "system:expiry",
            "expired",
        )
    assert api.get(f"/api/payments/{still_open['id']}").json()["status"] == "requires_action"


def test_the_card_abandonment_sweep_leaves_collections_to_their_own_expiry(api, settings):
    settings.PAYMENTS_REQUIRES_ACTION_TTL_S = 0
    payment = collect_bank_transfer(api).json()

    services.expire_authorizations()

    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"


def test_money_arriving_after_expiry_is_refused(api):
    payment = collect_bank_transfer(api, amount=4250).json()
    _expire(payment["id"])

    with pytest.raises(InvalidState) as refused:
        collection.complete_collection(
            payment_id=payment["id"],
            amount_minor=4250,
            currency="EUR",
            source="bank:DE89370400440532013000",
            source_reference="late-credit",
            actor=services.Actor.system("test"),
        )

    assert refused.value.code == "payment_expired"
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"
    assert ledger_lines(api, payment["id"]) == []


def test_a_transfer_arriving_after_expiry_leaves_the_payment_canceled(api):
    payment = collect_bank_transfer(api).json()
    _expire(payment["id"])
    collection.expire_collections()

    response = api.post(
        f"/api/test_helpers/payments/{payment['id']}/simulate_payment", {}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_invalid_state"
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "canceled"


def test_an_expired_payments_qr_image_is_gone(api):
    url = collect_bank_transfer(api).json()["next_action"]["bank_transfer_instructions"][
        "qr_image_url"
    ]
    payment_id = Payment.objects.get().id
    _expire(payment_id)

    assert APIClient().get(path_of(url)).status_code == 404


def test_an_expired_payment_is_no_longer_found_by_reference(api):
    payment = collect_bank_transfer(api).json()
    reference = payment["next_action"]["bank_transfer_instructions"]["reference"]
    spaced = " ".join(reference[i : i + 4] for i in range(0, len(reference), 4)).lower()
    assert (
        collection.find_open_collection(reference=spaced, livemode=False).payment_id
        == (payment["id"])
    )

    _expire(payment["id"])

    assert collection.find_open_collection(reference=reference, livemode=False) is None


def test_the_simulator_refuses_a_qr_code_scanned_after_its_expiry(api, providers, sim, settings):
    settings.QR_EXPIRY_S = 1
    code = collect_qr(api, "pix").json()["next_action"]["qr_code"]
    while time.time() < code["expires_at"]:  # at most the one second the code lives
        time.sleep(0.05)

    scanned = sim.client.post(f"/_control/sim-a/qr/{code['reference']}/scan", json={})

    assert scanned.status_code == 400
    assert scanned.json()["error"]["code"] == "qr_expired"
