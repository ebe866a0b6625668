"""A provider webhook's raw body is stored with card numbers masked, like its parsed data."""

from __future__ import annotations

import pytest
from django.db import connection

from routing.models import IncomingEvent
from tests.routing.test_webhooks import _event, _post

pytestmark = pytest.mark.django_db
PAN = "4242424242424242"


def test_a_card_number_in_a_provider_webhook_is_stored_masked(
    providers, payment_events, django_capture_on_commit_callbacks
):
    event = _event(card_number=PAN, note=f"card {PAN} charged")
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(event).status_code == 200

    row = IncomingEvent.objects.get(event_id=event["id"])
    assert PAN not in row.raw_body
    assert "424242******4242" in row.raw_body
    assert event["id"] in row.raw_body  # the rest is kept as received
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM routing_incomingevent"
            " WHERE raw_body LIKE %(pan)s OR data::text LIKE %(pan)s",
            {"pan": f"%{PAN}%"},
        )
        assert cursor.fetchone() == (0,)
