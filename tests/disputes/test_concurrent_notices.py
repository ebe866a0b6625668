"""Provider events racing each other (a redelivery while the first is being applied, two events
of a new dispute at once) are applied once, in real concurrent transactions."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from disputes import services
from disputes.models import Dispute, ProviderNotice
from routing.interface import DisputeEventKind as Kind
from tests.disputes.conftest import entries_by_kind
from tests.disputes.factories import notice

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 4


def _race(notices) -> list[BaseException]:
    barrier = threading.Barrier(len(notices))
    errors: list[BaseException] = []

    def deliver(event) -> None:
        try:
            barrier.wait(timeout=10)
            services.handle_notice(event)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in notices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_the_same_event_delivered_at_once_is_applied_once(captured):
    payment = captured()
    services.handle_notice(notice(payment, dispute_reference="du_race"))
    withdrawn = notice(
        payment, kind=Kind.FUNDS_WITHDRAWN, minutes=1, fee_minor=700, dispute_reference="du_race"
    )
    assert _race([withdrawn] * THREADS) == []
    assert ProviderNotice.objects.filter(event_id=withdrawn.event_id).count() == 1
    entries = entries_by_kind(payment.id)
    assert (len(entries["chargeback"]), len(entries["chargeback_fee"])) == (2, 2)


def test_events_of_a_new_dispute_arriving_together_make_one_dispute(captured):
    payment = captured()
    opened = notice(payment, dispute_reference="du_new")
    withdrawn = notice(
        payment, kind=Kind.FUNDS_WITHDRAWN, minutes=0, fee_minor=700, dispute_reference="du_new"
    )
    # The loser of the creation race waits on the unique key, then joins the winner's dispute.
    assert _race([opened, withdrawn]) == []
    services.handle_notice(withdrawn)  # and a redelivery afterwards changes nothing
    dispute = Dispute.objects.get(provider_reference="du_new")
    assert dispute.withdrawal_posted
    assert ProviderNotice.objects.filter(dispute=dispute).count() == 2
    entries = entries_by_kind(payment.id)
    assert (len(entries["chargeback"]), len(entries["chargeback_fee"])) == (2, 2)
