"""Staff sign-in with a second factor, the seeded demo data, and the admin's key creation."""

import json
import os
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchants.models import ApiKey, Merchant
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():06d}"


@pytest.fixture
def seeded(settings, tmp_path):
    settings.LOCAL_DIR = tmp_path
    call_command("seed_demo", "--quiet")
    return tmp_path


def login(client, username, password, token):
    device = TOTPDevice.objects.get(user__username=username)
    return client.post(
        "/admin/login/?next=/admin/",
        {
            "username": username,
            "password": password,
            "otp_device": device.persistent_id,
            "otp_token": token,
        },
    )


def test_seed_is_idempotent_and_keys_work(seeded):
    keys = json.loads((seeded / "demo_keys.json").read_text())
    call_command("seed_demo", "--quiet")
    assert json.loads((seeded / "demo_keys.json").read_text()) == keys
    assert Merchant.objects.filter(name="Demo Shop").count() == 1
    assert ApiKey.objects.filter(merchant__name="Demo Shop").count() == 2
    assert client_for(keys["secret"]).get("/api/webhook-endpoints").status_code == 200
    assert keys["publishable"].startswith("pk_test_")
    users = get_user_model().objects.filter(is_staff=True)
    assert {user.username for user in users} == {"admin", "finance", "support"}
    assert {g.name for g in users.get(username="finance").groups.all()} == {"finance"}


def test_admin_requires_the_second_factor(client, seeded):
    response = login(client, "admin", "admin-demo-pass", "")
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302
    response = login(client, "admin", "admin-demo-pass", "000000")
    assert client.get("/admin/").status_code == 302


def test_admin_accepts_a_valid_code_once(client, seeded):
    device = TOTPDevice.objects.get(user__username="finance")
    code = current_code(device)
    response = login(client, "finance", "finance-demo-pass", code)
    assert response.status_code == 302, response.content[:500]
    assert client.get("/admin/").status_code == 200
    client.logout()
    login(client, "finance", "finance-demo-pass", code)  # the same code again
    assert client.get("/admin/").status_code == 302


def test_password_alone_is_not_enough_even_with_a_session(client, seeded):
    client.force_login(get_user_model().objects.get(username="admin"))  # no OTP verification
    assert client.get("/admin/").status_code == 302


def test_admin_action_creates_a_key_shown_once(client, seeded):
    device = TOTPDevice.objects.get(user__username="admin")
    login(client, "admin", "admin-demo-pass", current_code(device))
    merchant = Merchant.objects.get(name="Demo Shop")
    response = client.post(
        "/admin/merchants/merchant/",
        {"action": "create_test_secret_key", "_selected_action": [merchant.pk]},
        follow=True,
    )
    text = response.content.decode()
    start = text.index("<code>sk_test_") + len("<code>")
    key = text[start : text.index("</code>", start)]
    assert client_for(key).get("/api/webhook-endpoints").status_code == 200
    page = client.get(f"/admin/merchants/merchant/{merchant.pk}/change/").content.decode()
    assert key not in page


# Variables the test session sets for itself that a production process would never have.
TEST_ONLY_ENV = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "TEST_DB_NAME"}


def run_manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage(
        "check", DJANGO_ENV="production", SECRET_KEY="", ALLOWED_HOSTS="pay.example"
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr + result.stdout


def production_env() -> dict[str, str]:
    import base64

    def key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
        "ALLOWED_HOSTS": "pay.example",
        "VAULT_KEYRING": f"v1:{key()}",
        "VAULT_ACTIVE_KEY": "v1",
        "VAULT_FINGERPRINT_KEY": key(),
        "WEBHOOK_SECRET_KEY": key(),
        "REFUND_ID_KEY": key(),
        # No server behind this address: `check --deploy` needs no database.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",
        "PUBLIC_BASE_URL": "https://pay.example",
        "REDIS_URL": "redis://127.0.0.1:6379/9",  # production runs several web processes
    }


@pytest.mark.slow
def test_production_check_deploy_is_clean():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_its_public_url():
    result = run_manage("check", **{**production_env(), "PUBLIC_BASE_URL": ""})
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL" in result.stderr + result.stdout


def test_seed_allows_the_demo_checkout_on_the_servers_own_port(settings, tmp_path):
    settings.LOCAL_DIR = tmp_path
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8765"
    call_command("seed_demo", "--quiet")
    origins = Merchant.objects.get(name="Demo Shop").allowed_origins
    assert {"http://127.0.0.1:8765", "http://localhost:8765"} <= set(origins)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    call_command("seed_demo", "--quiet")
    assert "http://127.0.0.1:8000" in Merchant.objects.get(name="Demo Shop").allowed_origins
