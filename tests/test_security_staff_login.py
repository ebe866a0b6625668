"""Staff sign-in to the back office: username, password and TOTP code in one POST; 10 failures
lock the account for 30 minutes; passwords of 12+ characters; 15 minutes idle ends the session;
the OpenAPI docs behind the same sign-in when API_DOCS_REQUIRE_STAFF is on."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def code_for(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():06d}"


@pytest.fixture
def staff() -> TOTPDevice:
    """A staff user with one confirmed TOTP device (the device is returned)."""
    user = get_user_model().objects.create_user(
        "ops", password=PASSWORD, is_staff=True, is_superuser=True
    )
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return device


def sign_in(client, username: str, password: str, token: str, **extra):
    """The login form as a browser first shows it: no device field."""
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "otp_token": token},
        **extra,
    )


def test_one_post_with_password_and_code_signs_in_a_user_with_one_device(client, staff):
    device = staff
    response = sign_in(client, "ops", PASSWORD, code_for(device))
    assert response.status_code == 302, response.content.decode()[:1000]
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_is_refused_without_asking_for_a_device(client, staff):
    device = staff
    wrong = code_for(device, offset_steps=10)  # a real code, but for five minutes from now
    response = sign_in(client, "ops", PASSWORD, wrong)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Please select a device" not in page
    assert "Invalid token" in page
    assert client.get("/admin/").status_code == 302


def test_a_user_with_two_devices_still_chooses_one(client, staff):
    device = staff
    TOTPDevice.objects.create(user=device.user, name="backup", confirmed=True)
    response = sign_in(client, "ops", PASSWORD, code_for(device))
    assert response.status_code == 200
    assert "Please select a device" in response.content.decode()
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "ops",
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": code_for(device),
        },
    )
    assert response.status_code == 302


def test_ten_failed_passwords_lock_the_account_for_thirty_minutes(client, staff):
    device = staff
    for _ in range(9):
        response = sign_in(client, "ops", "wrong password!", "", REMOTE_ADDR="198.51.100.1")
        assert response.status_code == 200
    # The tenth failure locks.
    response = sign_in(client, "ops", "wrong password!", "", REMOTE_ADDR="198.51.100.1")
    assert response.status_code == 429
    # The right password and code, even from another address: locked.
    response = sign_in(client, "ops", PASSWORD, code_for(device), REMOTE_ADDR="198.51.100.2")
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302

    from axes.models import AccessAttempt

    # 31 minutes later the lock has cooled off.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    response = sign_in(client, "ops", PASSWORD, code_for(device), REMOTE_ADDR="198.51.100.2")
    assert response.status_code == 302


def test_nine_failures_do_not_lock(client, staff):
    device = staff
    for _ in range(9):
        sign_in(client, "ops", "wrong password!", "")
    assert sign_in(client, "ops", PASSWORD, code_for(device)).status_code == 302


def test_one_address_guessing_many_usernames_is_locked_too(client, staff):
    device = staff
    for index in range(10):
        sign_in(client, f"nobody{index}", "guess", "", REMOTE_ADDR="203.0.113.50")
    response = sign_in(client, "ops", PASSWORD, code_for(device), REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_one_client_s_guesses_do_not_lock_the_others(
    client, staff, settings
):
    # TRUSTED_PROXY_COUNT=1: the client is the address the proxy appends to X-Forwarded-For.
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for index in range(10):
        sign_in(client, f"nobody{index}", "guess", "", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    locked = sign_in(
        client, "ops", PASSWORD, code_for(staff), HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy
    )
    assert locked.status_code == 429
    response = sign_in(
        client, "ops", PASSWORD, code_for(staff), HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy
    )
    assert response.status_code == 302


def test_passwords_need_twelve_characters():
    with pytest.raises(ValidationError, match="at least 12 characters"):
        validate_password("Xq7#pLm2vR9")  # 11
    validate_password("Xq7#pLm2vR9w")  # 12


def test_a_session_idle_for_more_than_fifteen_minutes_is_signed_out(client, staff):
    device = staff
    assert sign_in(client, "ops", PASSWORD, code_for(device)).status_code == 302
    assert client.get("/admin/").status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    # Each request pushed the expiry 15 minutes ahead.
    remaining = session.expire_date - timezone.now()
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    # 16 minutes without a request, as the database sees it.
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(minutes=1))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_activity_keeps_the_session_alive(client, staff):
    device = staff
    sign_in(client, "ops", PASSWORD, code_for(device))
    key = client.session.session_key
    Session.objects.filter(pk=key).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert client.get("/admin/").status_code == 200
    renewed = Session.objects.get(pk=key).expire_date - timezone.now()
    assert renewed > timedelta(minutes=14)


def test_api_docs_need_a_verified_staff_sign_in_when_required(client, settings, staff):
    settings.API_DOCS_REQUIRE_STAFF = True
    for path in ("/api/schema/", "/api/docs/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/")
    client.force_login(staff.user)  # password only, no second factor: still not enough
    assert client.get("/api/schema/").status_code == 302
    client.logout()
    sign_in(client, "ops", PASSWORD, code_for(staff))
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_api_docs_are_public_when_not_required(client, settings):
    settings.API_DOCS_REQUIRE_STAFF = False
    assert client.get("/api/schema/").status_code == 200
