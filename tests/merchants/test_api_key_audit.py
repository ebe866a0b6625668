"""API keys in the back office: creation and revocation are recorded (who, when, from where) in
an append-only table; revoking needs its own permission; a new key's plaintext is shown once,
in the response of the action that created it, and never reaches the session."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchants import services
from merchants.models import ApiKey, ApiKeyEvent, Merchant
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
STAFF_ADDRESS = "198.51.100.23"


def staff_client(username: str, *permissions: str, superuser: bool = False) -> Client:
    """A client signed in as a staff user verified by a TOTP device (as after the login form)."""
    user = get_user_model().objects.create_user(
        username, password="unused-password-123", is_staff=True, is_superuser=superuser
    )
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client(REMOTE_ADDR=STAFF_ADDRESS)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def create_key(client: Client, merchant: Merchant):
    return client.post(
        "/admin/merchants/merchant/",
        {"action": "create_live_secret_key", "_selected_action": [merchant.pk]},
    )


def shown_key(response) -> str:
    text = response.content.decode()
    start = text.index("<code>sk_live_") + len("<code>")
    return text[start : text.index("</code>", start)]


def test_admin_shows_a_new_key_once_in_its_own_response_and_records_who_and_where(merchant):
    client = staff_client("keeper", "merchants.view_merchant", "merchants.create_api_key")
    response = create_key(client, merchant.merchant)

    assert response.status_code == 200  # the key page itself, not a redirect to a message
    assert "no-store" in response["Cache-Control"]
    key = shown_key(response)
    assert client_for(key).get("/api/webhook-endpoints").status_code == 200
    # Nowhere in any stored session (messages live there) and not on the next page.
    for session in Session.objects.all():
        assert key not in str(session.get_decoded())
    assert key not in client.get("/admin/merchants/merchant/").content.decode()

    api_key = ApiKey.objects.get(key_hash=services.hash_key(key))
    [event] = ApiKeyEvent.objects.filter(api_key=api_key)
    assert (event.action, event.actor, event.ip) == ("create", "admin:keeper", STAFF_ADDRESS)
    assert abs((timezone.now() - event.at).total_seconds()) < 60


def test_revoking_needs_the_revoke_permission(merchant):
    api_key = ApiKey.objects.get(key_hash=services.hash_key(merchant.secret))
    viewer = staff_client("viewer", "merchants.view_apikey")
    page = viewer.get("/admin/merchants/apikey/").content.decode()
    assert 'value="revoke"' not in page
    response = viewer.post(
        "/admin/merchants/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]}
    )
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert not ApiKeyEvent.objects.filter(action="revoke").exists()
    assert response.status_code in (200, 302)

    revoker = staff_client("revoker", "merchants.view_apikey", "merchants.revoke_apikey")
    assert 'value="revoke"' in revoker.get("/admin/merchants/apikey/").content.decode()
    revoker.post("/admin/merchants/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert client_for(merchant.secret).get("/api/webhook-endpoints").status_code == 401
    [event] = ApiKeyEvent.objects.filter(api_key=api_key, action="revoke")
    assert (event.actor, event.ip) == ("admin:revoker", STAFF_ADDRESS)


def test_revoking_twice_records_one_revocation(merchant):
    api_key = ApiKey.objects.filter(merchant=merchant.merchant).first()
    services.revoke_api_key(api_key_id=api_key.pk, actor="admin:a", ip="2001:db8::1")
    services.revoke_api_key(api_key_id=api_key.pk, actor="admin:b", ip="2001:db8::2")
    events = list(ApiKeyEvent.objects.filter(api_key=api_key, action="revoke"))
    assert [(e.actor, e.ip) for e in events] == [("admin:a", "2001:db8::1")]


def test_the_key_events_cannot_be_changed_or_deleted(merchant):
    event = ApiKeyEvent.objects.filter(api_key__merchant=merchant.merchant).first()
    assert event is not None  # the fixture's keys were created through the service
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ApiKeyEvent.objects.filter(pk=event.pk).update(actor="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ApiKeyEvent.objects.filter(pk=event.pk).delete()
    assert ApiKeyEvent.objects.get(pk=event.pk).actor == event.actor


def test_the_admin_offers_no_way_to_edit_key_events(merchant):
    client = staff_client("root", superuser=True)
    event = ApiKeyEvent.objects.filter(api_key__merchant=merchant.merchant).first()
    assert client.get("/admin/merchants/apikeyevent/").status_code == 200
    page = client.get(f"/admin/merchants/apikeyevent/{event.pk}/change/").content.decode()
    assert 'name="actor"' not in page
    assert client.post(f"/admin/merchants/apikeyevent/{event.pk}/delete/").status_code == 403


def test_the_command_line_records_its_caller(capsys):
    call_command("create_api_key", "Audit Shop", "--kind", "secret", "--mode", "test")
    key = capsys.readouterr().out.strip()
    [event] = ApiKeyEvent.objects.filter(api_key__key_hash=services.hash_key(key))
    assert event.action == "create"
    assert event.actor.startswith("cli:")
    assert event.ip is None
