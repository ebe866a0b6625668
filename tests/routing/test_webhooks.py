"""Incoming provider webhooks at POST /api/webhooks/<provider>: signature over the raw body
(5-minute tolerance, several secrets during a rotation), stored, deduplicated, processed once."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from routing import events, services
from routing.conf import DEFAULT_SIM_WEBHOOK_SECRET
from routing.interface import Outcome
from routing.models import Attempt, IncomingEvent
from tests.routing.conftest import THREE_DS, card_token, payment_request

NEW_SECRET = "whsec_" + "bmV3LXNlY3JldC1mb3ItdGhlLXJvdGF0aW9uLXRlc3Qh"
LIVE_WAIT_S = 10.0


def _event(event_type: str = "payment.succeeded", provider: str = "sim-a", **data) -> dict:
    return {
        "id": f"evt_sim_{uuid.uuid4().hex[:12]}",
        "type": event_type,
        "created": int(time.time()),
        "provider": provider,
        "data": {"authorization_id": "sa_1", "reference": "att_x", "amount": 1000,
                 "currency": "EUR", **data},
    }  # fmt: skip


def _post(event: dict, *, secret: str = DEFAULT_SIM_WEBHOOK_SECRET, at: dt.datetime | None = None,
          path: str = "sim-a", signed: bool = True):  # fmt: skip
    body = json.dumps(event)
    headers = {"HTTP_WEBHOOK_ID": event["id"]}
    at = at or dt.datetime.now(dt.UTC)
    headers["HTTP_WEBHOOK_TIMESTAMP"] = str(int(at.timestamp()))
    if signed:
        headers["HTTP_WEBHOOK_SIGNATURE"] = Webhook(secret).sign(event["id"], at, body)
    return APIClient().post(
        f"/api/webhooks/{path}", data=body, content_type="application/json", **headers
    )


def test_signed_event_is_stored_and_processed_by_the_registered_handler(
    providers, payment_events, django_capture_on_commit_callbacks
):
    event = _event()

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(event)

    assert response.status_code == 200
    row = IncomingEvent.objects.get(event_id=event["id"])
    assert (row.provider, row.type, row.status) == ("sim-a", "payment.succeeded", "processed")
    assert json.loads(row.raw_body) == event
    assert "webhook-signature" not in row.headers
    [received] = payment_events.events
    assert (received.event_id, received.provider_reference) == (event["id"], "sa_1")


def test_redelivered_event_is_stored_once_and_handled_once(
    providers, payment_events, django_capture_on_commit_callbacks
):
    event = _event()

    with django_capture_on_commit_callbacks(execute=True):
        first, second = _post(event), _post(event)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"received": 0, "duplicates": 1}
    assert IncomingEvent.objects.filter(event_id=event["id"]).count() == 1
    assert len(payment_events.events) == 1


@pytest.mark.parametrize(
    "case",
    ["wrong_secret", "stale", "future", "unsigned", "tampered", "wrong_provider"],
)
def test_bad_stale_or_missing_signature_is_refused_and_nothing_stored(
    providers, payment_events, case
):
    event = _event()
    now = dt.datetime.now(dt.UTC)
    if case == "wrong_secret":
        response = _post(event, secret=NEW_SECRET)
    elif case == "stale":
        response = _post(event, at=now - dt.timedelta(minutes=6))
    elif case == "future":
        response = _post(event, at=now + dt.timedelta(minutes=6))
    elif case == "unsigned":
        response = _post(event, signed=False)
    elif case == "tampered":
        at = now
        body = json.dumps(event)
        signature = Webhook(DEFAULT_SIM_WEBHOOK_SECRET).sign(event["id"], at, body)
        response = APIClient().post(
            "/api/webhooks/sim-a",
            data=body.replace("1000", "9000"),
            content_type="application/json",
            HTTP_WEBHOOK_ID=event["id"],
            HTTP_WEBHOOK_TIMESTAMP=str(int(at.timestamp())),
            HTTP_WEBHOOK_SIGNATURE=signature,
        )
    else:  # signed correctly, but for sim-b and posted to sim-a's URL
        response = _post(_event(provider="sim-b"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert IncomingEvent.objects.count() == 0
    assert payment_events.events == []


def test_event_signed_within_tolerance_is_accepted(providers):
    response = _post(_event(), at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4))

    assert response.status_code == 200


def test_both_secrets_are_accepted_during_a_rotation(providers, monkeypatch):
    monkeypatch.setenv("PSP_SIM_WEBHOOK_SECRETS", f"{NEW_SECRET},{DEFAULT_SIM_WEBHOOK_SECRET}")

    old = _post(_event(), secret=DEFAULT_SIM_WEBHOOK_SECRET)
    new = _post(_event(), secret=NEW_SECRET)

    assert (old.status_code, new.status_code) == (200, 200)
    assert IncomingEvent.objects.count() == 2


def test_simulator_alias_path_routes_to_the_signing_provider(providers):
    response = _post(_event(provider="sim-b"), path="simulator")

    assert response.status_code == 200
    assert IncomingEvent.objects.get().provider == "sim-b"


def test_unknown_provider_path_is_404(providers):
    assert _post(_event(), path="nobody").status_code == 404


def test_event_without_handler_is_stored_and_ignored(providers, django_capture_on_commit_callbacks):
    event = _event("payout.paid")

    with django_capture_on_commit_callbacks(execute=True):
        _post(event)

    assert IncomingEvent.objects.get(event_id=event["id"]).status == "ignored"


def test_failing_handler_leaves_the_event_failed_for_a_retry(
    providers, payment_events, django_capture_on_commit_callbacks
):
    calls = []

    def flaky(event):
        calls.append(event.event_id)
        if len(calls) == 1:
            raise RuntimeError("payments was down")

    events.register_webhook_handler("payment.", flaky)  # replaces the logging one
    event = _event()
    with django_capture_on_commit_callbacks(execute=True):
        _post(event)
    row = IncomingEvent.objects.get(event_id=event["id"])
    assert (row.status, row.tries) == ("failed", 1)
    assert "payments was down" in row.last_error

    assert services.process_incoming_event(event_pk=row.pk) == "processed"
    assert services.process_incoming_event(event_pk=row.pk) == "processed"
    assert len(calls) == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_3ds_completion_webhook_from_the_live_simulator_settles_the_attempt(
    merchant, providers, sim, live_server, payment_events
):
    sim.set_webhook(f"{live_server.url}/api/webhooks/{{provider}}", [DEFAULT_SIM_WEBHOOK_SECRET])
    outcome = services.authorize(
        request=payment_request(merchant, token_id=card_token(merchant, THREE_DS))
    )
    assert outcome.outcome == Outcome.REQUIRES_ACTION and outcome.redirect_url

    sim.send_event("sim-a", "payment.succeeded", outcome.provider_reference)

    deadline = time.monotonic() + LIVE_WAIT_S
    while not payment_events.events and time.monotonic() < deadline:
        time.sleep(0.05)
    [event] = payment_events.events
    assert (event.type, event.reference) == ("payment.succeeded", outcome.attempt_id)
    assert Attempt.objects.get(pk=outcome.attempt_id).outcome == "approved"
    assert IncomingEvent.objects.get().status == "processed"


def test_payment_event_resolves_an_attempt_whose_outcome_was_unknown(
    merchant, providers, resolved, django_capture_on_commit_callbacks
):
    attempt = Attempt.objects.create(
        kind="authorize",
        payment_id="pay_unknown",
        merchant_id=merchant.merchant.id,
        provider="sim-a",
        method="card",
        currency="EUR",
        amount_minor=1000,
        outcome="timeout_unknown",
    )

    with django_capture_on_commit_callbacks(execute=True):
        _post(_event(reference=attempt.id, authorization_id="sa_late"))

    attempt.refresh_from_db()
    assert (attempt.outcome, attempt.provider_reference) == ("approved", "sa_late")
    [(attempt_id, payment_id, result)] = resolved.calls
    assert (attempt_id, payment_id, result.outcome) == (attempt.id, "pay_unknown", Outcome.APPROVED)
