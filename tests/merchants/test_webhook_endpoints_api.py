"""Webhook endpoints over the API: at most 16 per merchant and mode; listed, disabled, enabled,
deleted; their secret rolled (the old one signs too for 24 hours); secrets sealed at rest."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from merchants import delivery as webhook_delivery
from merchants import sealed, services, webhooks
from merchants.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import client_for
from tests.merchants.test_admin_and_seed import production_env, run_manage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_only")]


def create(key: str, url: str = "http://127.0.0.1:9/hook", **fields):
    return client_for(key).post(
        "/api/webhook-endpoints", {"url": url, "enabled_events": ["*"], **fields}, format="json"
    )


def emit_and_deliver(merchant_id: str) -> list[WebhookDelivery]:
    ids = webhooks.emit_event(
        merchant_id=merchant_id, livemode=False, event_type="payment.captured", data={"id": "p"}
    )
    # The test's transaction never commits, so the tasks queued on commit are run here.
    return [webhook_delivery.deliver(delivery_id=delivery_id).delivery for delivery_id in ids]


def test_the_seventeenth_endpoint_of_a_mode_is_refused(merchant):
    for number in range(services.MAX_WEBHOOK_ENDPOINTS):
        assert create(merchant.secret, f"http://127.0.0.1:9/hook{number}").status_code == 201
    refused = create(merchant.secret)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "webhook_endpoint_limit_reached"
    assert WebhookEndpoint.objects.filter(livemode=False).count() == 16
    # The other mode has its own 16; a deleted endpoint frees its place.
    assert create(merchant.live_secret, "https://93.184.215.14/hook").status_code == 201
    some_id = WebhookEndpoint.objects.filter(livemode=False).values_list("pk", flat=True)[0]
    deleted = client_for(merchant.secret).delete(f"/api/webhook-endpoints/{some_id}")
    assert deleted.status_code == 200
    assert create(merchant.secret).status_code == 201


def test_endpoints_are_listed_disabled_enabled_and_deleted_over_http(merchant, receivers):
    api = client_for(merchant.secret)
    receiver = receivers()
    endpoint_id = create(merchant.secret, receiver.url).json()["id"]
    create(merchant.secret, "http://127.0.0.1:9/other")

    page = api.get("/api/webhook-endpoints", {"limit": 1}).json()
    assert (len(page["data"]), page["has_more"]) == (1, True)
    assert "secret" not in page["data"][0]

    disabled = api.post(f"/api/webhook-endpoints/{endpoint_id}/disable")
    assert (disabled.status_code, disabled.json()["status"]) == (200, "disabled")
    emit_and_deliver(merchant.merchant.pk)
    assert receiver.received == []

    enabled = api.post(f"/api/webhook-endpoints/{endpoint_id}/enable")
    assert enabled.json()["status"] == "enabled"
    emit_and_deliver(merchant.merchant.pk)
    assert len(receiver.received) == 1

    deleted = api.delete(f"/api/webhook-endpoints/{endpoint_id}")
    assert deleted.json() == {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}
    assert api.get(f"/api/webhook-endpoints/{endpoint_id}").status_code == 404
    assert [e["id"] for e in api.get("/api/webhook-endpoints").json()["data"]] != [endpoint_id]
    assert len(api.get("/api/webhook-endpoints").json()["data"]) == 1


def test_disabling_stops_pending_retries(merchant, receivers):
    receiver = receivers(status=500)
    endpoint_id = create(merchant.secret, receiver.url).json()["id"]
    [delivery] = emit_and_deliver(merchant.merchant.pk)
    assert delivery.status == "pending"
    client_for(merchant.secret).post(f"/api/webhook-endpoints/{endpoint_id}/disable")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "endpoint disabled")


def test_another_merchants_endpoint_cannot_be_touched(merchant, other_merchant):
    endpoint_id = create(merchant.secret).json()["id"]
    other = client_for(other_merchant.secret)
    for action in ("disable", "enable", "roll_secret"):
        assert other.post(f"/api/webhook-endpoints/{endpoint_id}/{action}").status_code == 404
    assert other.delete(f"/api/webhook-endpoints/{endpoint_id}").status_code == 404
    live = client_for(merchant.live_secret)  # nor from the other mode
    assert live.delete(f"/api/webhook-endpoints/{endpoint_id}").status_code == 404
    assert WebhookEndpoint.objects.get(pk=endpoint_id).active


def test_actions_refuse_unknown_parameters(merchant):
    endpoint_id = create(merchant.secret).json()["id"]
    response = client_for(merchant.secret).post(
        f"/api/webhook-endpoints/{endpoint_id}/roll_secret", {"expires": 1}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_unknown"


def test_after_a_roll_the_old_secret_signs_too_for_24_hours_and_not_after(merchant, receivers):
    api = client_for(merchant.secret)
    receiver = receivers()
    created = create(merchant.secret, receiver.url).json()
    old_secret = created["secret"]
    rolled = api.post(f"/api/webhook-endpoints/{created['id']}/roll_secret")
    new_secret = rolled.json()["secret"]
    assert rolled.status_code == 200 and new_secret.startswith("whsec_")
    assert new_secret != old_secret
    assert "secret" not in api.get(f"/api/webhook-endpoints/{created['id']}").json()

    emit_and_deliver(merchant.merchant.pk)
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(old_secret).verify(request.body, request.headers)

    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    rolled_at = endpoint.previous_secret_expires_at - timedelta(hours=24)
    assert abs(rolled_at - timezone.now()) < timedelta(minutes=1)
    assert endpoint.signing_secrets(at=rolled_at + timedelta(hours=23, minutes=59)) == [
        new_secret,
        old_secret,
    ]
    assert endpoint.signing_secrets(at=rolled_at + timedelta(hours=24)) == [new_secret]

    # A day later (the expiry moved to now, rather than the clock a day on):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    emit_and_deliver(merchant.merchant.pk)
    request = receiver.received[-1]
    Webhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(request.body, request.headers)


def _stored_secrets() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_sealed, previous_secret_sealed FROM merchants_webhookendpoint"
        )
        return [value for row in cursor.fetchall() for value in row if value]


def test_secret_columns_hold_no_plaintext(merchant):
    created = create(merchant.secret).json()
    rolled = client_for(merchant.secret).post(f"/api/webhook-endpoints/{created['id']}/roll_secret")
    stored = _stored_secrets()
    assert len(stored) == 2
    for plaintext in (created["secret"], rolled.json()["secret"]):
        assert all(plaintext not in value and plaintext[6:] not in value for value in stored)
    assert all(sealed.is_sealed(value) and "whsec" not in value for value in stored)
    assert WebhookEndpoint.objects.get().secret == rolled.json()["secret"]


def test_the_migration_seals_secrets_stored_in_clear(merchant):
    endpoint_id = create(merchant.secret).json()["id"]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE merchants_webhookendpoint SET secret_sealed = 'whsec_c2VjcmV0' WHERE id = %s",
            [endpoint_id],
        )
    migration = importlib.import_module("merchants.migrations.0005_webhook_endpoint_security")
    migration.seal_clear_secrets(django_apps, None)
    migration.seal_clear_secrets(django_apps, None)  # sealed ones are left as they are
    assert _stored_secrets()[0] != "whsec_c2VjcmV0"
    assert WebhookEndpoint.objects.get(pk=endpoint_id).secret == "whsec_c2VjcmV0"


def test_a_missing_or_short_secret_key_is_named_at_start_up(settings):
    for value in ("", "too-short"):
        settings.WEBHOOK_SECRET_KEY = value
        with pytest.raises(sealed.SecretKeyError, match="WEBHOOK_SECRET_KEY"):
            sealed.check_key()


@pytest.mark.slow
def test_production_refuses_to_start_without_the_webhook_secret_key():
    result = run_manage("check", **{**production_env(), "WEBHOOK_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "WEBHOOK_SECRET_KEY is not set" in result.stderr + result.stdout


def test_a_new_key_in_front_still_opens_secrets_sealed_with_the_old_one(merchant, settings):
    create(merchant.secret)
    secret = WebhookEndpoint.objects.get().secret
    settings.WEBHOOK_SECRET_KEY = "a-brand-new-key-of-at-least-32-characters," + (
        settings.WEBHOOK_SECRET_KEY
    )
    assert WebhookEndpoint.objects.get().secret == secret
